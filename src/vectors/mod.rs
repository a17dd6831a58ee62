//! Test vectors: TOML files of cases — code, arguments, expected result — and of properties — two snippets that
//! must agree on many inputs — run in isolation and reported for people (the CLI's `run`) and for snapshots
//! (`tests/vectors.rs`).
//!
//! `file` reads and checks the format, `run` runs cases and properties in worker processes, `convention` judges
//! what a call left behind, `property` makes a property's inputs and shrinks its counterexamples, `report` says
//! what happened.
//!
//! ```no_run
//! let report = rustyjit::vectors::run_file(std::path::Path::new("vectors/basics.toml"));
//! print!("{}", report.snapshot());
//! assert!(report.passed());
//! ```

mod convention;
mod file;
mod outcome;
mod property;
mod report;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod run;
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod run {
    //! Other hosts: cases are not run (they could not be), each says so.
    pub use super::outcome::Outcome;
    use super::{Case, VectorFile};

    fn cannot(n: usize) -> Vec<Outcome> {
        vec![Outcome::LoadFailed("code only runs on x86-64 Linux hosts".into()); n]
    }

    /// Every case is [`Outcome::LoadFailed`]: code only runs on x86-64 Linux.
    pub fn run_cases(cases: &[Case]) -> Vec<Outcome> {
        cannot(cases.len())
    }

    /// Every case and property is [`Outcome::LoadFailed`].
    pub fn run_files_on(files: &[&VectorFile], _workers: usize) -> Vec<(Vec<Outcome>, Vec<Outcome>)> {
        files
            .iter()
            .map(|f| (cannot(f.cases.len()), cannot(f.properties.len())))
            .collect()
    }

    /// Every case and property is [`Outcome::LoadFailed`].
    pub fn run_file_on(file: &VectorFile, _workers: usize) -> (Vec<Outcome>, Vec<Outcome>) {
        (cannot(file.cases.len()), cannot(file.properties.len()))
    }
}

pub use convention::{Broken, Exit};
pub use file::{
    ARG_REGS, ArgType, Break, CALLEE_SAVED, Case, DEFAULT_SEED, Expect, FCW_ENTRY, FRAME_CANARIES, MXCSR_CONTROL,
    MXCSR_ENTRY, Property, REGS, SIGNALS, Value, VectorError, VectorFile, canary, entry_regs, parse_hex, parse_int,
    signal_name,
};
pub use property::Rng;
pub use report::{CaseReport, FileReport, Reading, Verdict};
pub use run::{Outcome, run_cases, run_file_on, run_files_on};

use std::path::{Path, PathBuf};

/// Reads, runs and checks one vector file. A file that cannot be read or parsed is a report with errors.
pub fn run_file(path: &Path) -> FileReport {
    match VectorFile::read(path) {
        Ok(file) => {
            let (cases, properties) = run_file_on(&file, 1);
            FileReport::new(&file, &cases, &properties)
        }
        Err(e) => FileReport::unreadable(path, e),
    }
}

/// How [`run_files`] runs: how many workers at once, and which cases.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Worker processes at once; 0 means one per core.
    pub jobs: usize,
    /// Run only the cases and properties whose name, or whose file's name, contains this text.
    pub filter: Option<String>,
}

impl RunOptions {
    /// The number of workers: `jobs`, or the number of cores for 0.
    pub fn workers(&self) -> usize {
        match self.jobs {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

/// Reads, runs and checks vector files; the reports in the order of `files`, whatever order they ran in.
///
/// ```no_run
/// use rustyjit::vectors::{RunOptions, run_files};
/// let options = RunOptions { jobs: 2, filter: Some("sum".into()) };
/// for report in run_files(&["vectors/basics.toml".into()], &options) {
///     print!("{}", report.snapshot());
/// }
/// ```
pub fn run_files(files: &[PathBuf], options: &RunOptions) -> Vec<FileReport> {
    let read: Vec<Result<VectorFile, VectorError>> = files
        .iter()
        .map(|path| {
            let mut file = VectorFile::read(path)?;
            let file_name = path.file_name().map(|n| n.to_string_lossy());
            if let Some(filter) = &options.filter
                && !file_name.is_some_and(|n| n.contains(filter.as_str()))
            {
                file.cases.retain(|c| c.name.contains(filter.as_str()));
                file.properties.retain(|p| p.name.contains(filter.as_str()));
            }
            Ok(file)
        })
        .collect();
    let good: Vec<&VectorFile> = read.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut outcomes = run_files_on(&good, options.workers()).into_iter();
    read.iter()
        .zip(files)
        .map(|(r, path)| match r {
            Ok(file) => {
                // One outcome pair per good file, in the same order (never missing; if it were, "not run").
                let (cases, properties) = outcomes.next().unwrap_or_else(|| {
                    (
                        vec![Outcome::NotRun; file.cases.len()],
                        vec![Outcome::NotRun; file.properties.len()],
                    )
                });
                FileReport::new(file, &cases, &properties)
            }
            Err(e) => FileReport::unreadable(path, e.clone()),
        })
        .collect()
}

/// The vector files at `path`: the file itself, or every `*.toml` in the folder, sorted.
pub fn vector_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}
