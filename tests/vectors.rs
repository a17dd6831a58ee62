//! One insta snapshot per vector file (`vectors/*.toml`): each case's listing, outcome and, with `state = true`,
//! registers and flags. Review changes with `cargo insta review`. A case's explicit assertions (`returns`, `bytes`,
//! `memory_after`, `fault`) fail this test on their own, whatever the snapshot says.

#[test]
fn every_vector_file() {
    insta::glob!(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors"), "*.toml", |path| {
        let report = rustyjit::vectors::run_file(path);
        insta::assert_snapshot!(report.snapshot());
        let failures: Vec<String> = report.cases.iter().filter(|c| !c.passed()).map(|c| c.line()).collect();
        assert!(report.errors.is_empty(), "{}: {:?}", path.display(), report.errors);
        assert!(failures.is_empty(), "{}:\n{}", path.display(), failures.join("\n"));
    });
}
