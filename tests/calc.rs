//! The expression compiler example (`examples/calc.rs`): compiled code agrees with an interpreter on random
//! expressions and inputs, divisions by zero and `i64::MIN / -1` included; bad input is an error, not a panic.

#[path = "../examples/calc.rs"]
#[allow(dead_code)]
mod calc;

#[path = "../jit-core/tests/common/mod.rs"]
mod common;

use calc::{CalcFn, Expr, Op, compile, eval, parse};
use common::Rng;

fn random_expr(rng: &mut Rng, depth: u32) -> Expr {
    if depth == 0 || rng.next_u64().is_multiple_of(4) {
        return match rng.next_u64() % 4 {
            0 => Expr::Var(false),
            1 => Expr::Var(true),
            2 => Expr::Num((rng.next_u64() % 21) as i64),
            _ => Expr::Num(rng.next_u64() as i64),
        };
    }
    if rng.next_u64().is_multiple_of(8) {
        return Expr::Neg(Box::new(random_expr(rng, depth - 1)));
    }
    let op = [Op::Add, Op::Sub, Op::Mul, Op::Div][(rng.next_u64() % 4) as usize];
    Expr::Bin(
        op,
        Box::new(random_expr(rng, depth - 1)),
        Box::new(random_expr(rng, depth - 1)),
    )
}

fn show(e: &Expr) -> String {
    match e {
        Expr::Num(n) if *n < 0 => format!("(0 - {})", n.unsigned_abs()),
        Expr::Num(n) => n.to_string(),
        Expr::Var(v) => if *v { "y" } else { "x" }.into(),
        Expr::Neg(a) => format!("-({})", show(a)),
        Expr::Bin(op, a, b) => {
            let op = match op {
                Op::Add => "+",
                Op::Sub => "-",
                Op::Mul => "*",
                Op::Div => "/",
            };
            format!("({} {op} {})", show(a), show(b))
        }
    }
}

#[test]
fn compiled_expressions_agree_with_the_interpreter() {
    let mut rng = Rng::new(7);
    let mut compiled = 0;
    let inputs = [0, 1, -1, 7, -13, i64::MIN, i64::MAX];
    for _ in 0..400 {
        let text = show(&random_expr(&mut rng, 4));
        let Ok(code) = compile(&text) else {
            continue; // too deep for four registers: checked below
        };
        compiled += 1;
        let expr = parse(&text).unwrap();
        let f = code.load().unwrap();
        // SAFETY: compiled code has the signature `CalcFn` and writes only the flag.
        let run = unsafe { f.as_fn::<CalcFn>() };
        for &x in &inputs {
            for &y in &inputs {
                let mut zero = 0u8;
                let got = run(x, y, &mut zero);
                let want = eval(&expr, x, y);
                assert_eq!((zero == 0).then_some(got), want, "{text} at x = {x}, y = {y}");
            }
        }
    }
    assert!(compiled > 200, "{compiled} compiled");
}

#[test]
fn bad_expressions_are_errors_with_a_position() {
    assert_eq!(parse("x +").unwrap_err().at, 3);
    assert_eq!(parse("(x").unwrap_err().message, "expected `)`");
    assert!(
        parse("99999999999999999999")
            .unwrap_err()
            .message
            .contains("does not fit")
    );
    let deep = "((x*y)*(x*y))*((x*y)*(x*y)) + (((x*y)*(x*y))*((x*y)*(x*y)))*y";
    assert!(compile(deep).unwrap_err().message.contains("registers"));
}

#[test]
fn the_example_uses_the_registers_the_allocator_chose() {
    let code = compile("(x + 3) * y").unwrap();
    let listing = code.listing().to_string();
    assert!(
        listing.contains("mov rcx, rdi") && listing.contains("imul rcx, r8"),
        "{listing}"
    );
}
