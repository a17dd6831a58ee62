//! `vectors/schema.json`, the JSON Schema editors (taplo / Even Better TOML, through a `#:schema ./schema.json`
//! first line) use to check vector files and show hover text, is tested here three ways:
//!
//! - every bundled vector file validates against it;
//! - its keys are the keys the harness accepts, for `[[case]]`, `[[property]]` and the top level (read from the
//!   harness's own "unknown field" message, so its private serde types stay private);
//! - documents that are wrong in known ways fail it, and a right one that uses every key passes, so that it is not
//!   vacuous.
#![cfg(feature = "vectors")]

use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// The schema, as JSON.
fn schema() -> Json {
    let path = vectors_dir().join("schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The schema compiled as draft 7, the newest draft taplo knows.
fn validator() -> jsonschema::Validator {
    jsonschema::draft7::new(&schema()).unwrap_or_else(|e| panic!("vectors/schema.json does not compile: {e}"))
}

/// A vector file's text as the JSON value the schema sees.
///
/// JSON has no `inf` or `nan`, which TOML floats can be (`returns = nan`). serde_json turns a non-finite float into
/// `null`, and taplo validates a TOML document by serializing it to a serde_json value the same way, so this test
/// does what an editor does: the schema's float form is `"type": ["number", "null"]`, and since TOML has no null
/// of its own, a null there can only have been an infinity or a NaN. (TOML dates become an object with a private
/// key, which no part of the schema accepts: vector files have no dates.)
fn to_json(text: &str) -> Result<Json, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_value(table).map_err(|e| e.to_string())
}

/// Every schema error of a document, as `INSTANCE_PATH: MESSAGE` (the path a JSON pointer such as
/// `/case/3/args/0`; empty for the top level).
fn schema_errors(validator: &jsonschema::Validator, doc: &Json) -> Vec<(String, String)> {
    validator
        .iter_errors(doc)
        .map(|e| (e.instance_path().to_string(), e.to_string()))
        .collect()
}

#[test]
fn schema_is_a_draft_07_schema_with_a_description_for_every_key() {
    let schema = schema();
    jsonschema::meta::validate(&schema).unwrap_or_else(|e| panic!("vectors/schema.json is not a valid schema: {e}"));
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    for key in ["$id", "title", "description"] {
        assert!(schema[key].is_string(), "vectors/schema.json has no `{key}`");
    }
    // Hover text: every key a vector file can hold says what it is in one sentence of its own. Not through a
    // `$ref` beside it, which draft 7 and taplo ignore (taplo follows the `$ref` and drops its siblings). The
    // `dependencies` only constrain keys already described, so they are not walked.
    let mut missing = Vec::new();
    let mut stack = vec![(String::new(), &schema)];
    while let Some((at, node)) = stack.pop() {
        match node {
            Json::Object(map) => {
                if let Some(Json::Object(props)) = map.get("properties") {
                    for (key, prop) in props {
                        let described = prop["description"].as_str().is_some_and(|d| d.ends_with('.'));
                        if !described || prop.get("$ref").is_some() {
                            missing.push(format!("{at}/properties/{key}"));
                        }
                    }
                }
                let walked = map.iter().filter(|(k, _)| *k != "dependencies");
                stack.extend(walked.map(|(k, v)| (format!("{at}/{k}"), v)));
            }
            Json::Array(items) => stack.extend(items.iter().enumerate().map(|(i, v)| (format!("{at}/{i}"), v))),
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "keys without a one-sentence description (or with a `$ref` beside it): {missing:#?}"
    );
}

#[test]
fn every_vector_file_validates() {
    let validator = validator();
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("vectors/")
        .map(|entry| entry.expect("vectors/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors/*.toml");
    let mut problems = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match to_json(&text) {
            Ok(doc) => problems.extend(
                schema_errors(&validator, &doc)
                    .into_iter()
                    .map(|(at, why)| format!("vectors/{name}: at `{at}`: {why}")),
            ),
            Err(why) => problems.push(format!("vectors/{name}: not TOML: {why}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{} schema error(s) in {} file(s):\n{}",
        problems.len(),
        files.len(),
        problems.join("\n")
    );
}

/// The keys the harness accepts where `text` has the unknown key `zzz`: the names serde lists in its
/// `deny_unknown_fields` message, "unknown field `zzz`, expected one of `name`, `asm`, ..." (or "expected `case`"
/// for one name, "expected `a` or `b`" for two, "there are no fields" for none).
fn harness_keys(text: &str) -> Result<BTreeSet<String>, String> {
    let file = rustyjit::vectors::VectorFile::parse(Path::new("t.toml"), text);
    let messages: Vec<&str> = file.errors.iter().map(|e| e.message.as_str()).collect();
    let Some(message) = messages.iter().find(|m| m.contains("unknown field `zzz`")) else {
        return Err(format!(
            "the harness did not report `zzz` as an unknown field of this table; its errors: {messages:?}"
        ));
    };
    let listed = message.split_once("expected").map_or("", |(_, rest)| rest);
    Ok(listed.split('`').skip(1).step_by(2).map(str::to_string).collect())
}

/// The keys the schema allows in the object at `pointer` (following a local `$ref`).
fn schema_keys(pointer: &str) -> BTreeSet<String> {
    let schema = schema();
    let mut node = schema
        .pointer(pointer)
        .unwrap_or_else(|| panic!("schema has no `{pointer}`"));
    while let Some(target) = node["$ref"].as_str() {
        let local = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local `$ref` {target}"));
        node = schema
            .pointer(local)
            .unwrap_or_else(|| panic!("dangling `$ref` {target}"));
    }
    assert_eq!(node["additionalProperties"], false, "`{pointer}` allows other keys");
    let props = node["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("`{pointer}` has no properties"));
    props.keys().cloned().collect()
}

fn assert_same_keys(table: &str, harness: Result<BTreeSet<String>, String>, schema: BTreeSet<String>) {
    let harness = harness.unwrap_or_else(|why| panic!("{table}: {why}"));
    let only_schema: Vec<_> = schema.difference(&harness).collect();
    let only_harness: Vec<_> = harness.difference(&schema).collect();
    assert!(
        only_schema.is_empty() && only_harness.is_empty(),
        "{table}: keys in vectors/schema.json only: {only_schema:?}; keys the harness accepts that the schema \
         lacks: {only_harness:?}"
    );
}

#[test]
fn schema_case_keys_match_the_harness() {
    let harness = harness_keys("[[case]]\nname = \"a\"\nasm = \"ret\"\nzzz = 1\n");
    assert_same_keys("[[case]]", harness, schema_keys("/properties/case/items"));
}

#[test]
fn schema_property_keys_match_the_harness() {
    let text = "[[property]]\nname = \"a\"\nasm = \"ret\"\nreference = \"ret\"\nargs = []\nzzz = 1\n";
    assert_same_keys(
        "[[property]]",
        harness_keys(text),
        schema_keys("/properties/property/items"),
    );
}

#[test]
fn schema_top_level_keys_match_the_harness() {
    assert_same_keys("top level", harness_keys("zzz = 1\n"), schema_keys(""));
}

/// A document with every key of both tables, and each value form: it must pass.
const RIGHT: &str = r#"#:schema ./schema.json
[[case]]
name = "every_case_key"
asm = "ret"
args = [1, -2, "0xffff_ffff_ffff_ffff", "-0x8000000000000000", "0b101", "-5", 2.5, -0.0, inf, -inf, nan,
        { f64 = 1.5 }, { f32 = 1.5 }, { f64 = nan }, { f64_bits = "0x3ff8000000000000" }, { f32_bits = "0x3fc00000" },
        { f32_bits = 1069547520 }]
returns = { f32 = 1.5 }
ulps = 2
bytes = "c3"
timeout_ms = 600000
regs = { rax = 1, rbx = "0x10", r15 = -1, xmm0 = 1.0, xmm1 = { f32 = 2.5 }, xmm15 = "0x000102030405060708090a0b0c0d0e0f" }
memory = """
00 01 02 03
04 05 06 07
"""
memory_after = "0001020304050607"
state = true
preserve = true

[[case]]
name = "faults"
asm = "ud2"
fault = "ill"

[[case]]
name = "breaks_rbx"
asm = "xor ebx, ebx; ret"
breaks = "RBX"

[[case]]
name = "nan_result"
asm = "ret"
returns = nan
ulps = 0

[[property]]
name = "every_property_key"
asm = "mov rax, rdi; ret"
reference = "mov rax, rdi; ret"
args = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", { range = [-5, "0x10"] }]
returns = "u32"
runs = 1000000
seed = "0xdeadbeef"
memory = "00 00"
timeout_ms = 1
preserve = false

[[property]]
name = "no_args"
asm = "xor eax, eax; ret"
reference = "mov eax, 0; ret"
args = []
"#;

#[test]
fn schema_accepts_a_document_with_every_key() {
    let doc = to_json(RIGHT).expect("RIGHT is TOML");
    let errors = schema_errors(&validator(), &doc);
    assert!(errors.is_empty(), "{errors:#?}");
}

/// Documents with one mistake each, and the instance path the schema must report it at.
const WRONG: &[(&str, &str, &str)] = &[
    (
        "an unknown case key",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nzzz = 1\n",
        "/case/0",
    ),
    ("an unknown top-level key", "zzz = 1\n", ""),
    (
        "a top-level table that is not an array",
        "[case]\nname = \"a\"\nasm = \"ret\"\n",
        "/case",
    ),
    ("a case without asm", "[[case]]\nname = \"a\"\n", "/case/0"),
    (
        "an empty name",
        "[[case]]\nname = \"\"\nasm = \"ret\"\n",
        "/case/0/name",
    ),
    (
        "an argument that is no integer",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nargs = [\"x y\"]\n",
        "/case/0/args/0",
    ),
    (
        "an integer over 64 bits",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nreturns = \"0x1_0000_0000_0000_0000\"\n",
        "/case/0/returns",
    ),
    (
        "a boolean argument",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nargs = [true]\n",
        "/case/0/args/0",
    ),
    (
        "a fault the harness does not catch",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nfault = \"SIGPIPE\"\n",
        "/case/0/fault",
    ),
    (
        "a float table with two keys",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nreturns = { f32 = 1.5, f64 = 2.0 }\n",
        "/case/0/returns",
    ),
    (
        "an empty float table",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nargs = [{}]\n",
        "/case/0/args/0",
    ),
    (
        "an unknown float table key",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nargs = [{ f16 = 1.0 }]\n",
        "/case/0/args/0",
    ),
    (
        "f32_bits over 32 bits",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nreturns = { f32_bits = \"0x1_0000_0000\" }\n",
        "/case/0/returns",
    ),
    (
        "an odd number of hex digits",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nbytes = \"c\"\n",
        "/case/0/bytes",
    ),
    (
        "a break the harness does not know",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nbreaks = \"rax\"\n",
        "/case/0/breaks",
    ),
    (
        "breaks with returns",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nbreaks = \"stack\"\nreturns = 1\n",
        "/case/0/returns",
    ),
    (
        "breaks with preserve = false",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nbreaks = \"df\"\npreserve = false\n",
        "/case/0/preserve",
    ),
    (
        "fault with returns",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nfault = \"segv\"\nreturns = 1\n",
        "/case/0/returns",
    ),
    (
        "ulps with an integer string result",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nreturns = \"0x10\"\nulps = 1\n",
        "/case/0/returns",
    ),
    (
        "ulps without returns",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nulps = 1\n",
        "/case/0",
    ),
    (
        "negative ulps",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nreturns = 1.5\nulps = -1\n",
        "/case/0/ulps",
    ),
    (
        "memory_after without memory",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nmemory_after = \"00\"\n",
        "/case/0",
    ),
    (
        "rdi set beside memory",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nmemory = \"00\"\nregs = { rdi = 1 }\n",
        "/case/0/regs/rdi",
    ),
    (
        "rsp in regs",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nregs = { rsp = 1 }\n",
        "/case/0/regs",
    ),
    (
        "an xmm register over 128 bits",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\nregs = { xmm0 = \"0x1_0000_0000_0000_0000_0000_0000_0000_0000\" }\n",
        "/case/0/regs/xmm0",
    ),
    (
        "timeout_ms = 0",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\ntimeout_ms = 0\n",
        "/case/0/timeout_ms",
    ),
    (
        "timeout_ms over ten minutes",
        "[[case]]\nname = \"a\"\nasm = \"ret\"\ntimeout_ms = 600001\n",
        "/case/0/timeout_ms",
    ),
    (
        "a property type that does not exist",
        "[[property]]\nname = \"p\"\nasm = \"ret\"\nreference = \"ret\"\nargs = [\"i7\"]\n",
        "/property/0/args/0",
    ),
    (
        "a property range with one bound",
        "[[property]]\nname = \"p\"\nasm = \"ret\"\nreference = \"ret\"\nargs = [{ range = [1] }]\n",
        "/property/0/args/0",
    ),
    (
        "a property without args",
        "[[property]]\nname = \"p\"\nasm = \"ret\"\nreference = \"ret\"\n",
        "/property/0",
    ),
    (
        "a property without reference",
        "[[property]]\nname = \"p\"\nasm = \"ret\"\nargs = []\n",
        "/property/0",
    ),
    (
        "runs = 0",
        "[[property]]\nname = \"p\"\nasm = \"ret\"\nreference = \"ret\"\nargs = []\nruns = 0\n",
        "/property/0/runs",
    ),
    (
        "a property returning an unknown type",
        "[[property]]\nname = \"p\"\nasm = \"ret\"\nreference = \"ret\"\nargs = []\nreturns = \"i128\"\n",
        "/property/0/returns",
    ),
    (
        "a case key in a property",
        "[[property]]\nname = \"p\"\nasm = \"ret\"\nreference = \"ret\"\nargs = []\nbytes = \"c3\"\n",
        "/property/0",
    ),
];

#[test]
fn schema_rejects_wrong_documents() {
    let validator = validator();
    let mut unexpected = Vec::new();
    for (what, text, at) in WRONG {
        let doc = to_json(text).unwrap_or_else(|e| panic!("{what}: not TOML: {e}"));
        let errors = schema_errors(&validator, &doc);
        if errors.is_empty() {
            unexpected.push(format!("{what}: accepted"));
        } else if !errors.iter().any(|(path, _)| path == at) {
            unexpected.push(format!("{what}: no error at `{at}`, only {errors:?}"));
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
}
