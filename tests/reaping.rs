//! Workers that finish everything are waited for off the run's path (on a thread of their own while they tear
//! themselves down): none may be left behind as a zombie. A test binary of its own, so no other test's workers
//! are children of this process while it looks.

use rustyjit::vectors::{VectorFile, run_file_on};
use std::path::Path;
use std::time::{Duration, Instant};

/// This process's children that have ended and were not waited for (state `Z` in /proc).
fn zombie_children() -> Vec<u32> {
    let me = std::process::id();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next().and_then(|p| p.parse::<u32>().ok()));
        if state == Some("Z") && ppid == Some(me) {
            zombies.extend(head.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()));
        }
    }
    zombies
}

#[test]
fn finished_workers_are_waited_for() {
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!(
            "[[case]]\nname = \"c{i}\"\nasm = \"mov rax, {i}; ret\"\nreturns = {i}\n\n"
        ));
    }
    let file = VectorFile::parse(Path::new("t.toml"), &text);
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    for jobs in [1, 2, 1, 2] {
        let (cases, _) = run_file_on(&file, jobs);
        assert_eq!(cases.len(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let zombies = zombie_children();
        if zombies.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "workers never waited for: {zombies:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
