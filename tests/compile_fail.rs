//! `jit!`'s compile errors, and the borrow that keeps a `ScratchFn` from being called after the next load, checked
//! with trybuild against the committed `tests/ui/*.stderr`: each case says in its first line what it checks; the
//! `.stderr` shows the message and the token it points at. `tests/ui/pass/` holds blocks that must compile.
//!
//! After a deliberate change, regenerate with `TRYBUILD=overwrite cargo test --test compile_fail` and review
//! every changed `.stderr` like code.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
