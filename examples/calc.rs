//! An expression compiler: arithmetic on `x` and `y` compiled to machine code with the emitter, its temporaries
//! in registers chosen at run time by a small register allocator.
//!
//! ```text
//! cargo run --example calc -- "(x + 3) * y - 100 / (x - 1)" 5 4
//! ```
//!
//! `x` and `y` arrive in `rdi` and `rsi`, the result leaves in `rax`. Every subexpression gets a register from a
//! pool of four (`rcx r8 r9 r10`); the deeper operand of a binary operator is computed first (Sethi–Ullman order),
//! so the pool lasts for any expression of depth up to four, and a deeper one is a clear error, not a crash.
//! Division by zero sets an error flag the caller passes and returns 0; `i64::MIN / -1` wraps as Rust's
//! `wrapping_div` does (x86's `idiv` would fault).

use rustyjit::{Code, DynamicLabel, Emitter, R64, jit};
use std::fmt;

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number.
    Num(i64),
    /// `x` (false) or `y` (true).
    Var(bool),
    /// `-e`.
    Neg(Box<Expr>),
    /// `a op b`.
    Bin(Op, Box<Expr>, Box<Expr>),
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// What went wrong, with the byte offset in the expression where it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalcError {
    /// Byte offset in the source (its length for "at the end").
    pub at: usize,
    /// What is wrong, as a sentence.
    pub message: String,
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.at, self.message)
    }
}

impl std::error::Error for CalcError {}

/// Parses `x`, `y`, integers, `+ - * /`, unary `-` and parentheses, with the usual precedence.
pub fn parse(src: &str) -> Result<Expr, CalcError> {
    let mut p = Parser {
        src: src.as_bytes(),
        at: 0,
    };
    let e = p.sum()?;
    p.skip_spaces();
    if p.at < p.src.len() {
        return Err(p.error("expected an operator or the end of the expression"));
    }
    Ok(e)
}

struct Parser<'a> {
    src: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> CalcError {
        CalcError {
            at: self.at,
            message: message.into(),
        }
    }

    fn skip_spaces(&mut self) {
        while self.src.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.src.get(self.at).copied()
    }

    fn sum(&mut self) -> Result<Expr, CalcError> {
        let mut e = self.product()?;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            self.at += 1;
            let op = if c == b'+' { Op::Add } else { Op::Sub };
            e = Expr::Bin(op, Box::new(e), Box::new(self.product()?));
        }
        Ok(e)
    }

    fn product(&mut self) -> Result<Expr, CalcError> {
        let mut e = self.unary()?;
        while let Some(c @ (b'*' | b'/')) = self.peek() {
            self.at += 1;
            let op = if c == b'*' { Op::Mul } else { Op::Div };
            e = Expr::Bin(op, Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, CalcError> {
        match self.peek() {
            Some(b'-') => {
                self.at += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some(b'(') => {
                self.at += 1;
                let e = self.sum()?;
                if self.peek() != Some(b')') {
                    return Err(self.error("expected `)`"));
                }
                self.at += 1;
                Ok(e)
            }
            Some(b'x') => {
                self.at += 1;
                Ok(Expr::Var(false))
            }
            Some(b'y') => {
                self.at += 1;
                Ok(Expr::Var(true))
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.at;
                while self.src.get(self.at).is_some_and(u8::is_ascii_digit) {
                    self.at += 1;
                }
                let digits = std::str::from_utf8(&self.src[start..self.at]).unwrap_or("");
                digits.parse().map(Expr::Num).map_err(|_| CalcError {
                    at: start,
                    message: format!("{digits} does not fit 64 bits"),
                })
            }
            _ => Err(self.error("expected a number, `x`, `y`, `-` or `(`")),
        }
    }
}

/// What the interpreter and the compiled code agree on: wrapping arithmetic, `None` for a division by zero.
pub fn eval(e: &Expr, x: i64, y: i64) -> Option<i64> {
    Some(match e {
        Expr::Num(n) => *n,
        Expr::Var(v) => {
            if *v {
                y
            } else {
                x
            }
        }
        Expr::Neg(a) => eval(a, x, y)?.wrapping_neg(),
        Expr::Bin(op, a, b) => {
            let (a, b) = (eval(a, x, y)?, eval(b, x, y)?);
            match op {
                Op::Add => a.wrapping_add(b),
                Op::Sub => a.wrapping_sub(b),
                Op::Mul => a.wrapping_mul(b),
                Op::Div if b == 0 => return None,
                Op::Div => a.wrapping_div(b),
            }
        }
    })
}

/// The registers temporaries live in; `rax` and `rdx` are taken by `idiv`, `rdi` and `rsi` hold `x` and `y`,
/// `r11` the error flag's address.
const POOL: [R64; 4] = [R64::RCX, R64::R8, R64::R9, R64::R10];

/// How many registers computing `e` takes (Sethi–Ullman number).
fn need(e: &Expr) -> usize {
    match e {
        Expr::Num(_) | Expr::Var(_) => 1,
        Expr::Neg(a) => need(a),
        Expr::Bin(_, a, b) => {
            let (l, r) = (need(a), need(b));
            if l == r { l + 1 } else { l.max(r) }
        }
    }
}

struct Compiler {
    e: Emitter,
    free: Vec<R64>,
    div_by_zero: DynamicLabel,
}

impl Compiler {
    /// Emits code leaving `e`'s value in a register it returns (taken from the pool).
    fn expr(&mut self, e: &Expr) -> R64 {
        match e {
            Expr::Num(n) => {
                let (r, n) = (self.take(), *n);
                jit!(self.e; mov {r: r64}, {n});
                r
            }
            Expr::Var(v) => {
                let r = self.take();
                let var = if *v { R64::RSI } else { R64::RDI };
                jit!(self.e; mov {r: r64}, {var: r64});
                r
            }
            Expr::Neg(a) => {
                let r = self.expr(a);
                jit!(self.e; neg {r: r64});
                r
            }
            Expr::Bin(op, a, b) => {
                // The operand that needs more registers first, while the pool is fullest.
                let (ra, rb) = if need(b) > need(a) {
                    let rb = self.expr(b);
                    (self.expr(a), rb)
                } else {
                    let ra = self.expr(a);
                    (ra, self.expr(b))
                };
                match op {
                    Op::Add => jit!(self.e; add {ra: r64}, {rb: r64}),
                    Op::Sub => jit!(self.e; sub {ra: r64}, {rb: r64}),
                    Op::Mul => jit!(self.e; imul {ra: r64}, {rb: r64}),
                    Op::Div => {
                        let zero = self.div_by_zero;
                        jit!(self.e;
                            test {rb: r64}, {rb: r64}
                            jz {zero}
                            cmp {rb: r64}, -1
                            jne divide
                            neg {ra: r64}               // x / -1 wraps (idiv would fault on i64::MIN)
                            jmp done
                        divide:
                            mov rax, {ra: r64}
                            cqo
                            idiv {rb: r64}
                            mov {ra: r64}, rax
                        done:
                        );
                    }
                }
                self.free.push(rb);
                ra
            }
        }
    }

    /// A free register; the depth check in `compile` guarantees there is one.
    fn take(&mut self) -> R64 {
        self.free.pop().unwrap_or(R64::RCX)
    }
}

/// A compiled expression: `extern "sysv64" fn(x, y, *mut u8) -> i64`, the byte set to 1 on a division by zero.
pub type CalcFn = extern "sysv64" fn(i64, i64, *mut u8) -> i64;

/// Compiles an expression.
pub fn compile(src: &str) -> Result<Code, CalcError> {
    let expr = parse(src)?;
    if need(&expr) > POOL.len() {
        return Err(CalcError {
            at: 0,
            message: format!(
                "the expression needs {} registers at once; this compiler has {}",
                need(&expr),
                POOL.len()
            ),
        });
    }
    let mut e = Emitter::new();
    let div_by_zero = e.new_label();
    let mut c = Compiler {
        e,
        free: POOL.iter().rev().copied().collect(),
        div_by_zero,
    };
    jit!(c.e; mov r11, rdx);
    let result = c.expr(&expr);
    jit!(c.e; mov rax, {result: r64}; ret);
    c.e.bind(c.div_by_zero);
    jit!(c.e; mov byte ptr [r11], 1; xor eax, eax; ret);
    c.e.finish().map_err(|e| CalcError {
        at: 0,
        message: e.to_string(),
    })
}

#[allow(
    dead_code,
    reason = "the tests include this file for `compile`, `parse` and `eval`, not for `main`"
)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, rest @ ..] = args.as_slice() else {
        eprintln!("usage: calc EXPRESSION [X [Y]]   e.g. calc \"(x + 3) * y - 100 / (x - 1)\" 5 4");
        std::process::exit(2);
    };
    let value = |i: usize| -> Result<i64, Box<dyn std::error::Error>> {
        Ok(rest.get(i).map(|s| s.parse()).transpose()?.unwrap_or(0))
    };
    let (x, y) = (value(0)?, value(1)?);
    let code = compile(src)?;
    print!("{}", code.listing());
    let f = code.load()?;
    let mut div_by_zero = 0u8;
    // SAFETY: the compiled code has the signature `CalcFn`; it writes only the flag, which lives past the call.
    let v = unsafe { f.as_fn::<CalcFn>() }(x, y, &mut div_by_zero);
    if div_by_zero != 0 {
        println!("x = {x}, y = {y}: division by zero");
    } else {
        println!("x = {x}, y = {y}: {v}");
    }
    Ok(())
}
