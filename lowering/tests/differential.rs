//! Differential test against upstream `TC_Config` itself (issue 13): generated and mutated
//! templates go through `parser`/`lowering` and through `tcconf` (upstream's `tc_config.cpp`
//! compiled unchanged, `../shared/bench/README.md`), and everything upstream says is compared
//! byte for byte:
//!
//! - `norm`: accept or refuse, then `tostr()` or upstream's `what()`;
//! - `join`: `child.joinConfig(parent, false)` then `tostr()`, or the message;
//! - `reg`: the registry's `getProfileTemplate` over a chain of files: its log and its text;
//! - lint: every input upstream's `norm` refuses has an error finding.
//!
//! Where upstream has undefined behaviour (an open tag or a parameter after `</>` reads the
//! top of an empty stack), tarsdock refuses and says upstream crashes there
//! (`UpstreamError::crash`); upstream usually dies with a signal, but may run on, so those
//! jobs are counted, not compared.
//!
//! Inputs: a grammar-aware generator (nesting, mismatched and padded tags, `</>`, escapes
//! good and bad, `#` comments and `#` in values, CRLF, tabs, GBK and other invalid UTF-8, NUL,
//! long lines, `<`/`>` in text, duplicate keys and domains, root-level parameters, XML-style
//! tags) and byte mutations of the 20 upstream templates. `TARSDOCK_DIFF_CASES=N` sets the
//! number of inputs (default 3,000: CI), `TARSDOCK_DIFF_SEED` the seed (printed). Upstream runs
//! all of them in one `tcconf batch` process (one fork per input).
//!
//! The oracle is found through `TARSDOCK_TCCONF` (default `../shared/bench/upstream/tcconf`);
//! without it the test prints that it is skipped, and fails under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // Tests fail loudly.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use lowering::resolve::{Template, TemplateSet, resolve};
use parser::{Config, SourceId};

const DEFAULT_CASES: usize = 3_000;
const DEFAULT_SEED: u64 = 0x7a25_d0c4_2013_0001;

#[test]
fn tarsdock_and_upstream_agree() {
    let Some(tcconf) = testkit::upstream_tcconf("tarsdock_and_upstream_agree") else {
        return;
    };
    let cases = env_number("TARSDOCK_DIFF_CASES").unwrap_or(DEFAULT_CASES as u64) as usize;
    let seed = env_number("TARSDOCK_DIFF_SEED").unwrap_or(DEFAULT_SEED);
    eprintln!("differential: {cases} inputs, seed {seed:#x}");
    let mut rng = Rng(seed | 1);
    let templates = upstream_templates();

    let dir = tempfile::tempdir().unwrap();
    let mut inputs: Vec<Vec<u8>> = Vec::with_capacity(cases);
    for i in 0..cases {
        let input = if !templates.is_empty() && i % 3 == 2 {
            let template = rng.below(templates.len());
            mutate(&mut rng, &templates[template])
        } else {
            generate(&mut rng)
        };
        inputs.push(input);
    }
    let paths: Vec<PathBuf> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let path = dir.path().join(format!("{i}.conf"));
            std::fs::write(&path, input).unwrap();
            path
        })
        .collect();

    // Every input normalised; a join per three inputs; a chain of two or three per five.
    let mut jobs = Vec::new();
    for i in 0..cases {
        jobs.push(Job::Norm(i));
        if i % 3 == 0 {
            jobs.push(Job::Join(i, rng.below(cases)));
        }
        if i % 5 == 0 {
            let mut chain = vec![i];
            for _ in 0..1 + rng.below(2) {
                let next = rng.below(cases);
                if !chain.contains(&next) {
                    chain.push(next);
                }
            }
            jobs.push(Job::Reg(chain));
        }
    }
    let list: String = jobs
        .iter()
        .map(|job| {
            let path = |i: &usize| paths[*i].display().to_string();
            match job {
                Job::Norm(i) => format!("norm\t{}\n", path(i)),
                Job::Join(c, p) => format!("join\t{}\t{}\n", path(c), path(p)),
                Job::Reg(chain) => format!(
                    "reg\t{}\n",
                    chain.iter().map(path).collect::<Vec<_>>().join("\t")
                ),
            }
        })
        .collect();
    let list_path = dir.path().join("list.tsv");
    std::fs::write(&list_path, list).unwrap();
    let out = Command::new(&tcconf)
        .arg("batch")
        .arg(&list_path)
        .output()
        .expect("run tcconf batch");
    assert!(out.status.success(), "tcconf batch failed: {out:?}");
    let mut records = Records(&out.stdout);

    let mut differences = Vec::new();
    let (mut accepted, mut refused, mut crashed) = (0usize, 0usize, 0usize);
    let (mut undefined, mut undefined_ran_on) = (0usize, 0usize);
    for job in &jobs {
        let names: Vec<String> = match job {
            Job::Norm(i) => vec![paths[*i].display().to_string()],
            Job::Join(c, p) => vec![
                paths[*c].display().to_string(),
                paths[*p].display().to_string(),
            ],
            Job::Reg(chain) => chain
                .iter()
                .map(|i| paths[*i].display().to_string())
                .collect(),
        };
        let (ours, theirs): (Vec<Outcome>, Vec<Outcome>) = match job {
            Job::Norm(i) => (vec![norm(&inputs[*i])], vec![records.next()]),
            Job::Join(c, p) => (vec![join(&inputs[*c], &inputs[*p])], vec![records.next()]),
            Job::Reg(chain) => {
                let files: Vec<(&str, &[u8])> = chain
                    .iter()
                    .zip(&names)
                    .map(|(i, name)| (name.as_str(), inputs[*i].as_slice()))
                    .collect();
                (reg(&files), vec![records.next(), records.next()])
            }
        };
        if let Job::Norm(i) = job {
            match theirs[0].0 {
                0 => accepted += 1,
                1 => refused += 1,
                _ => crashed += 1,
            }
            // What upstream refuses, lint reports as an error: an editor never shows a clean
            // template that the registry or the node cannot load.
            if theirs[0].0 == 1 && !parser::parse(inputs[*i].clone()).has_errors() {
                differences.push(format!(
                    "{}: upstream refuses it ({}), lint reports no error",
                    names[0],
                    String::from_utf8_lossy(&theirs[0].1)
                ));
            }
        }
        // Undefined behaviour upstream (a line after `</>` reads an empty stack): tarsdock
        // refuses; upstream usually crashes, but may also run on into whatever comes next, so
        // its outcome is not compared.
        if ours[0] == CRASH {
            undefined += 1;
            undefined_ran_on += usize::from(theirs[0] != CRASH);
            continue;
        }
        if ours != theirs {
            differences.push(describe(job, &names, &ours, &theirs, &inputs));
        }
    }
    assert!(
        records.0.is_empty(),
        "tcconf printed more records than jobs"
    );
    eprintln!(
        "differential: {} jobs ({cases} norm: {accepted} accepted, {refused} refused, {crashed} \
         crashed upstream); {undefined} jobs undefined upstream (not compared; {undefined_ran_on} \
         of them did not crash); {} differences",
        jobs.len(),
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{} of {} jobs differ from upstream (seed {seed:#x}); the first ones:\n{}",
        differences.len(),
        jobs.len(),
        differences
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

enum Job {
    Norm(usize),
    Join(usize, usize),
    Reg(Vec<usize>),
}

/// `(status, bytes)` as `tcconf batch` writes a record: 0 and the text, 1 and upstream's
/// message, 2 for a crash (the bytes are not compared then).
type Outcome = (u8, Vec<u8>);

const CRASH: Outcome = (2, Vec::new());

fn norm(input: &[u8]) -> Outcome {
    let parse = parser::parse(input.to_vec());
    match &parse.upstream_error {
        Some(e) if e.crash => CRASH,
        Some(e) => (1, e.bytes.clone()),
        None => match parse.config.to_text() {
            Ok(text) => (0, text),
            Err(e) => (1, e.bytes()),
        },
    }
}

/// Upstream's harness: parse the parent, then the child, `child.joinConfig(parent, false)`,
/// `tostr()`.
fn join(child: &[u8], parent: &[u8]) -> Outcome {
    let quiet = |text: &[u8]| Config::parse_upstream(text.to_vec());
    let parent = match quiet(parent) {
        Ok(config) => config,
        Err(e) if e.crash => return CRASH,
        Err(e) => return (1, e.bytes),
    };
    let mut child = match quiet(child) {
        Ok(config) => config,
        Err(e) if e.crash => return CRASH,
        Err(e) => return (1, e.bytes),
    };
    if let Err(e) = child.join(&parent, false) {
        return (1, e.bytes());
    }
    match child.to_text() {
        Ok(text) => (0, text),
        Err(e) => (1, e.bytes()),
    }
}

/// The registry over a chain of files (each the parent of the one before): its log and its
/// text, as two records.
fn reg(files: &[(&str, &[u8])]) -> Vec<Outcome> {
    // Upstream parses each template it reaches; one that crashes ends the process.
    for (_, text) in files {
        match Config::parse_upstream(text.to_vec()) {
            Err(e) if e.crash => return vec![CRASH, CRASH],
            Err(_) => break,
            Ok(_) => {}
        }
    }
    let mut set = TemplateSet::new();
    for (i, (name, text)) in files.iter().enumerate() {
        set.add(Template {
            name: (*name).to_owned(),
            parent: files.get(i + 1).map(|(p, _)| (*p).to_owned()),
            parent_at: None,
            source: SourceId(u32::try_from(i).unwrap()),
            parse: parser::parse(text.to_vec()),
        });
    }
    let resolution = resolve(&set, files[0].0, None);
    vec![(0, resolution.log_bytes), (0, resolution.text)]
}

fn describe(
    job: &Job,
    names: &[String],
    ours: &[Outcome],
    theirs: &[Outcome],
    inputs: &[Vec<u8>],
) -> String {
    let mut out = String::new();
    let kind = match job {
        Job::Norm(_) => "norm",
        Job::Join(..) => "join",
        Job::Reg(_) => "reg",
    };
    let _ = writeln!(out, "--- {kind} {}", names.join(" "));
    let indexes: Vec<usize> = match job {
        Job::Norm(i) => vec![*i],
        Job::Join(c, p) => vec![*c, *p],
        Job::Reg(chain) => chain.clone(),
    };
    for i in indexes {
        let input = &inputs[i];
        let _ = writeln!(
            out,
            "input {i}: {:?}",
            String::from_utf8_lossy(&input[..input.len().min(400)])
        );
    }
    for (o, t) in ours.iter().zip(theirs) {
        if o != t {
            let _ = writeln!(
                out,
                "tarsdock {} {:?}\nupstream {} {:?}",
                o.0,
                String::from_utf8_lossy(&o.1[..o.1.len().min(400)]),
                t.0,
                String::from_utf8_lossy(&t.1[..t.1.len().min(400)])
            );
        }
    }
    out
}

/// `tcconf batch` output: `<status> <len>\n<bytes>` records.
struct Records<'a>(&'a [u8]);

impl Records<'_> {
    fn next(&mut self) -> Outcome {
        let nl = self
            .0
            .iter()
            .position(|&b| b == b'\n')
            .expect("record header");
        let header = std::str::from_utf8(&self.0[..nl]).unwrap();
        let (status, len) = header.split_once(' ').unwrap();
        let (status, len): (u8, usize) = (status.parse().unwrap(), len.parse().unwrap());
        let bytes = self.0[nl + 1..nl + 1 + len].to_vec();
        self.0 = &self.0[nl + 1 + len..];
        if status == 2 { CRASH } else { (status, bytes) }
    }
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn upstream_templates() -> Vec<Vec<u8>> {
    let Some(dir) = testkit::upstream_fixtures("tarsdock_and_upstream_agree (mutations)") else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files.iter().map(|p| testkit::read(Path::new(p))).collect()
}

// ---- inputs ----------------------------------------------------------------------------------

/// xorshift64: small, fast, and the same sequence on every machine for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const NAMES: &[&[u8]] = &[
    b"tars",
    b"application",
    b"server",
    b"client",
    b"a",
    b"b",
    b"d",
    b"x y",
    b"\xc8\xd5\xd6\xbe",
    b"\xe6\x97\xa5\xe5\xbf\x97",
    b"!-- c --",
    b"a/",
    b"?xml",
    b"",
    b"a=b",
    b"a\\b",
    b"#x",
    b"a<b",
    b"<",
];

const KEYS: &[&[u8]] = &[
    b"k",
    b"logpath",
    b"timeout",
    b"a b",
    b"a\\=b",
    b"a\\\\=b",
    b"\\t",
    b"",
    b"x<y",
    b"\xb7\xfe",
    b"k\\q",
    b"node",
    b"endpoint",
    b"a\\",
    b"#k",
    b"\xff",
];

const VALUES: &[&[u8]] = &[
    b"1",
    b"",
    b"tcp -h 127.0.0.1 -p 1 -t 60000",
    b"a=b=c",
    b"${logpath}",
    b"C:\\data",
    b"C:\\\\data",
    b"1 # note",
    b"a\\nb\\tc\\rd\\=e",
    b"x>y",
    b"\xc8\xd5\\\xd6\xbe",
    b"trail\\",
    b"\xe4\xb8\xad\xe6\x96\x87",
    b"a\x00b",
    b"  spaced  ",
    b"\\\\",
    b"#",
    b"v\ttab",
];

/// Keys and values upstream reads and writes back without complaint.
const GOOD_KEYS: &[&[u8]] = &[
    b"k",
    b"logpath",
    b"timeout",
    b"a b",
    b"a\\=b",
    b"node",
    b"\xb7\xfe",
];
const GOOD_VALUES: &[&[u8]] = &[
    b"1",
    b"",
    b"tcp -h 127.0.0.1 -p 1 -t 60000",
    b"a=b=c",
    b"${logpath}",
    b"C:\\\\data",
    b"1 # note",
    b"a\\nb\\tc\\rd\\=e",
    b"\xe4\xb8\xad\xe6\x96\x87",
    b"  spaced  ",
    b"v\ttab",
];

/// A template from TC_Config's grammar, with the odd cases mixed in. Half the inputs are
/// "clean" (the odd cases only rarely), so that accepted templates, whose `tostr` and joins
/// are compared byte for byte, are common too.
fn generate(rng: &mut Rng) -> Vec<u8> {
    let crlf = rng.chance(15);
    let clean = rng.chance(50);
    let mut out = Vec::new();
    let mut open: Vec<Vec<u8>> = Vec::new();
    let lines = 1 + rng.below(40);
    for _ in 0..lines {
        let indent: &[u8] = rng.pick(&[&b""[..], b"  ", b"\t", b" \t ", b"    "]);
        let mut line = indent.to_vec();
        let mut roll = if clean && rng.chance(97) {
            rng.below(86)
        } else {
            rng.below(100)
        };
        if clean && open.is_empty() && (18..=32).contains(&roll) {
            roll = 0;
        }
        if clean && (33..=70).contains(&roll) {
            line.extend_from_slice(rng.pick(GOOD_KEYS));
            line.push(b'=');
            line.extend_from_slice(rng.pick(GOOD_VALUES));
            line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            out.extend_from_slice(&line);
            continue;
        }
        match roll {
            0..=17 => {
                // Open a domain, sometimes padded.
                let name = rng.pick(NAMES).to_vec();
                line.push(b'<');
                if rng.chance(8) {
                    line.extend_from_slice(b" ");
                }
                line.extend_from_slice(&name);
                if rng.chance(8) {
                    line.extend_from_slice(b" ");
                }
                line.push(b'>');
                if rng.chance(5) {
                    line.extend_from_slice(rng.pick(&[&b" # note"[..], b"<b>", b" k=v"]));
                }
                open.push(name);
            }
            18..=32 => {
                // Close: usually the innermost domain, sometimes another name or `</>`.
                line.extend_from_slice(b"</");
                let odd = if clean { 0 } else { rng.below(10) };
                match (open.pop(), odd) {
                    (Some(name), 0..=7) => line.extend_from_slice(&name),
                    (_, 8) => {}
                    _ => line.extend_from_slice(rng.pick(NAMES)),
                }
                line.push(b'>');
            }
            33..=70 => {
                line.extend_from_slice(rng.pick(KEYS));
                if rng.chance(90) {
                    line.extend_from_slice(rng.pick(&[&b"="[..], b" = ", b"\t=\t", b"= "]));
                    line.extend_from_slice(rng.pick(VALUES));
                }
            }
            71..=78 => line.extend_from_slice(rng.pick(&[&b"# comment"[..], b"#", b"# <a>"])),
            79..=85 => {}
            86..=88 => {
                // An unterminated tag line.
                line.extend_from_slice(rng.pick(&[&b"<"[..], b"<a", b"</a", b"<!-- x"]));
            }
            89..=91 => {
                // A long line.
                let n = 500 + rng.below(3_000);
                line.extend_from_slice(b"long=");
                line.extend(std::iter::repeat_n(b'x', n));
                if rng.chance(30) {
                    line.extend_from_slice(b" # tail");
                }
            }
            92..=94 => line.extend_from_slice(b"</>"),
            _ => {
                // Bytes that are no encoding, or a NUL.
                line.extend_from_slice(rng.pick(&[&b"\xff\xfe=\x80"[..], b"k=\x00", b"\x00<a>"]));
            }
        }
        if rng.chance(5) {
            line.extend_from_slice(rng.pick(&[&b" "[..], b"\t", b"\r"]));
        }
        line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        out.extend_from_slice(&line);
    }
    // Mostly close what is open, so that many inputs are accepted.
    if clean || rng.chance(80) {
        while let Some(name) = open.pop() {
            out.extend_from_slice(b"</");
            out.extend_from_slice(&name);
            out.extend_from_slice(if crlf { b">\r\n" } else { b">\n" });
        }
    }
    if rng.chance(10) {
        out.pop();
    }
    out
}

/// An upstream template with a few byte-level edits.
fn mutate(rng: &mut Rng, template: &[u8]) -> Vec<u8> {
    const SPECIAL: &[u8] = b"<>/=\\#\n\r\t \x00\xff\xc8}${";
    let mut out = template.to_vec();
    for _ in 0..1 + rng.below(4) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(6) {
            0 => out[at] = rng.pick(SPECIAL),
            1 => out.insert(at, rng.pick(SPECIAL)),
            2 => {
                let end = (at + 1 + rng.below(40)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                // Duplicate a line.
                let start = out[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                let end = out[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(out.len(), |i| at + i + 1);
                let line = out[start..end].to_vec();
                out.splice(end..end, line);
            }
            4 => out.truncate(at),
            _ => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                for b in &mut out[at..end] {
                    *b = rng.next() as u8;
                }
            }
        }
    }
    out
}
