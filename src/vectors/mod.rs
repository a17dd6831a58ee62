//! Test vectors: TOML files of cases — code, arguments, expected result — run in isolation and reported for
//! people (the CLI's `run`) and for snapshots (`tests/vectors.rs`).
//!
//! ```no_run
//! let report = rustyjit::vectors::run_file(std::path::Path::new("vectors/basics.toml"));
//! print!("{}", report.snapshot());
//! assert!(report.passed());
//! ```

mod file;
mod outcome;
mod report;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod run;
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod run {
    //! Other hosts: cases are not run (they could not be), each says so.
    pub use super::outcome::Outcome;

    /// Every case is [`Outcome::LoadFailed`]: code only runs on x86-64 Linux.
    pub fn run_cases(cases: &[super::Case]) -> Vec<Outcome> {
        vec![Outcome::LoadFailed("code only runs on x86-64 Linux hosts".into()); cases.len()]
    }
}

pub use file::{
    ARG_REGS, CALLEE_SAVED, Case, Expect, REGS, SIGNALS, VectorError, VectorFile, parse_hex, parse_int, signal_name,
};
pub use report::{CaseReport, FileReport, Verdict};
pub use run::{Outcome, run_cases};

use std::path::{Path, PathBuf};

/// Reads, runs and checks one vector file. A file that cannot be read or parsed is a report with errors.
pub fn run_file(path: &Path) -> FileReport {
    match VectorFile::read(path) {
        Ok(file) => FileReport::new(&file, &run_cases(&file.cases)),
        Err(e) => FileReport::unreadable(path, e),
    }
}

/// How [`run_files`] runs: how many workers at once, and which cases.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Worker processes at once; 0 means one per core.
    pub jobs: usize,
    /// Run only the cases whose name, or whose file's path, contains this text.
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
    files
        .iter()
        .map(|path| match VectorFile::read(path) {
            Ok(mut file) => {
                if let Some(filter) = &options.filter
                    && !path.to_string_lossy().contains(filter.as_str())
                {
                    file.cases.retain(|c| c.name.contains(filter.as_str()));
                }
                FileReport::new(&file, &run_cases(&file.cases))
            }
            Err(e) => FileReport::unreadable(path, e),
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
