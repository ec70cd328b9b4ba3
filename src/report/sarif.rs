//! SARIF 2.1.0, in the subset GitHub code scanning reads.
//!
//! One run whose `tool.driver.rules` lists every rule that has a finding
//! (ordered by id, each once; rules outside [`crate::lint::rules::ALL`] such
//! as `parse-error` included), and one result per finding pointing at its rule
//! by `ruleId` and `ruleIndex`. Columns are declared as
//! `unicodeCodePoints` (SARIF's default would be UTF-16 code units), so they
//! mean what they mean in every other format; `endColumn` is exclusive, as
//! SARIF defines it. Artifact URIs are the paths as given, relative where
//! they were relative, with forward slashes and percent-encoding.
//!
//! See <https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html> and
//! <https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning>.

use super::FileView;
use crate::lint::{Rule, Severity};
use serde::Serialize;
use std::io::{self, Write};
use std::path::Path;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const VERSION: &str = "2.1.0";

#[derive(Serialize)]
struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    column_kind: &'static str,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
struct Driver {
    name: &'static str,
    version: &'static str,
    rules: Vec<Descriptor>,
}

/// A `reportingDescriptor`: one rule's metadata.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    id: &'static str,
    name: &'static str,
    short_description: Text,
    full_description: Text,
    help: Help,
    default_configuration: Configuration,
    properties: Properties,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Properties {
    tags: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: Vec<Location>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

/// SARIF's name for a severity: `info` is `note`.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

pub(crate) fn render(files: &[FileView<'_>], out: &mut dyn Write) -> io::Result<()> {
    let mut rules: Vec<&'static Rule> = files
        .iter()
        .flat_map(|f| f.findings.iter().map(|l| l.finding.rule))
        .collect();
    rules.sort_by_key(|r| r.id);
    rules.dedup_by_key(|r| r.id);

    let results = files
        .iter()
        .flat_map(|file| {
            let uri = artifact_uri(&file.lint.source.file.path);
            let rules = &rules;
            file.findings.iter().map(move |l| {
                let f = l.finding;
                let text = match &f.help {
                    Some(help) => format!("{}\nhelp: {help}", f.message),
                    None => f.message.clone(),
                };
                SarifResult {
                    rule_id: f.rule.id,
                    rule_index: rules
                        .iter()
                        .position(|r| r.id == f.rule.id)
                        .expect("collected above"),
                    level: level(f.severity),
                    message: Text { text },
                    locations: vec![Location {
                        physical_location: PhysicalLocation {
                            artifact_location: ArtifactLocation { uri: uri.clone() },
                            region: Region {
                                start_line: l.start.line,
                                start_column: l.start.column,
                                end_line: l.end.line,
                                end_column: l.end.column,
                            },
                        },
                    }],
                }
            })
        })
        .collect();

    let log = Log {
        schema: SCHEMA,
        version: VERSION,
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "safe-migrate",
                    version: env!("CARGO_PKG_VERSION"),
                    rules: rules.into_iter().map(descriptor).collect(),
                },
            },
            column_kind: "unicodeCodePoints",
            results,
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

fn descriptor(rule: &'static Rule) -> Descriptor {
    let doc = if rule.doc.trim().is_empty() {
        rule.summary.to_string()
    } else {
        rule.doc.trim().to_string()
    };
    Descriptor {
        id: rule.id,
        name: rule.id,
        short_description: Text {
            text: rule.summary.to_string(),
        },
        full_description: Text {
            text: what_it_does(rule.doc).unwrap_or_else(|| rule.summary.to_string()),
        },
        help: Help {
            text: doc.clone(),
            markdown: doc,
        },
        default_configuration: Configuration {
            level: level(rule.default_severity),
        },
        properties: Properties {
            tags: vec![rule.category.as_str()],
        },
    }
}

/// The body of the doc's `### What it does` section, if it has one.
fn what_it_does(doc: &str) -> Option<String> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != "### What it does").skip(1);
    let body: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with('#')).collect();
    let body = body.join("\n").trim().to_string();
    (!body.is_empty()).then_some(body)
}

/// The path as a URI reference: forward slashes (on Windows), a leading `./` dropped,
/// reserved and non-ASCII bytes percent-encoded; absolute paths as `file://` URIs.
fn artifact_uri(path: &Path) -> String {
    let mut raw = path.to_string_lossy().into_owned();
    if cfg!(windows) {
        raw = raw.replace('\\', "/");
    }
    let mut rel = raw.as_str();
    while let Some(rest) = rel.strip_prefix("./") {
        rel = rest;
    }
    let mut uri = String::new();
    if path.is_absolute() {
        uri.push_str("file://");
        if !rel.starts_with('/') {
            uri.push('/'); // `C:/x` → `file:///C:/x`
        }
    }
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{example, render_to_string, Format, TextStyle};
    use serde_json::Value;

    fn sarif(outcome: &crate::lint::LintOutcome) -> String {
        render_to_string(outcome, Format::Sarif, &TextStyle::plain())
    }

    #[test]
    fn snapshot() {
        let out = sarif(&example::outcome()).replace(env!("CARGO_PKG_VERSION"), "[version]");
        insta::assert_snapshot!(out);
    }

    fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("missing string at {pointer}: {v}"))
    }

    fn int_at(v: &Value, pointer: &str) -> u64 {
        v.pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("missing integer at {pointer}: {v}"))
    }

    /// The structure GitHub code scanning requires, checked by hand.
    fn validate(log: &Value) {
        assert_eq!(str_at(log, "/$schema"), SCHEMA);
        assert_eq!(str_at(log, "/version"), "2.1.0");
        let runs = log["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1);
        let run = &runs[0];
        assert_eq!(str_at(run, "/tool/driver/name"), "safe-migrate");
        assert!(!str_at(run, "/tool/driver/version").is_empty());
        assert_eq!(str_at(run, "/columnKind"), "unicodeCodePoints");
        let rules = run
            .pointer("/tool/driver/rules")
            .and_then(Value::as_array)
            .expect("rules");
        let ids: Vec<&str> = rules.iter().map(|r| str_at(r, "/id")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "rule ids sorted and unique");
        for rule in rules {
            for p in [
                "/name",
                "/shortDescription/text",
                "/fullDescription/text",
                "/help/text",
                "/help/markdown",
            ] {
                assert!(!str_at(rule, p).is_empty(), "{p}");
            }
            let level = str_at(rule, "/defaultConfiguration/level");
            assert!(["error", "warning", "note"].contains(&level), "{level}");
            assert!(rule
                .pointer("/properties/tags")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty()));
        }
        for result in run["results"].as_array().expect("results") {
            let id = str_at(result, "/ruleId");
            let index = int_at(result, "/ruleIndex") as usize;
            assert_eq!(ids.get(index), Some(&id), "ruleIndex points at ruleId");
            let level = str_at(result, "/level");
            assert!(["none", "note", "warning", "error"].contains(&level), "{level}");
            assert!(!str_at(result, "/message/text").is_empty());
            let loc = "/locations/0/physicalLocation";
            let uri = str_at(result, &format!("{loc}/artifactLocation/uri"));
            assert!(
                !uri.is_empty() && !uri.contains('\\') && !uri.contains(' '),
                "{uri}"
            );
            let region = |k: &str| int_at(result, &format!("{loc}/region/{k}"));
            let (sl, sc, el, ec) = (
                region("startLine"),
                region("startColumn"),
                region("endLine"),
                region("endColumn"),
            );
            assert!(sl >= 1 && sc >= 1 && ec >= 1);
            assert!(el > sl || (el == sl && ec >= sc), "region ends after it starts");
        }
    }

    #[test]
    fn structure_is_valid() {
        let log: Value = serde_json::from_str(&sarif(&example::outcome())).unwrap();
        validate(&log);
        let run = &log["runs"][0];
        assert_eq!(run["results"].as_array().unwrap().len(), 4);
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 3);
        // Severity overridden to info: the result is a note, the rule's default stays warning.
        assert_eq!(run["results"][1]["ruleId"], "create-index");
        assert_eq!(run["results"][1]["level"], "note");
        assert_eq!(
            run["tool"]["driver"]["rules"][0]["defaultConfiguration"]["level"],
            "warning"
        );
        assert_eq!(
            run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "migrations/V12__email_required.sql"
        );
    }

    #[test]
    fn clean_run_is_valid() {
        let log: Value = serde_json::from_str(&sarif(&example::clean())).unwrap();
        validate(&log);
        assert_eq!(log["runs"][0]["results"], Value::Array(vec![]));
        assert_eq!(log["runs"][0]["tool"]["driver"]["rules"], Value::Array(vec![]));
    }

    #[test]
    fn uris() {
        assert_eq!(
            artifact_uri(Path::new("./migrations/V1__a b.sql")),
            "migrations/V1__a%20b.sql"
        );
        #[cfg(windows)]
        assert_eq!(artifact_uri(Path::new("db\\V1__x.sql")), "db/V1__x.sql");
        assert_eq!(artifact_uri(Path::new("mïg/100%.sql")), "m%C3%AFg/100%25.sql");
        #[cfg(unix)]
        assert_eq!(
            artifact_uri(Path::new("/srv/app/V1.sql")),
            "file:///srv/app/V1.sql"
        );
    }

    #[test]
    fn full_description_is_what_it_does() {
        let doc = "### What it does\nFlags X.\nAnd Y.\n\n### Why is this bad?\nZ.\n";
        assert_eq!(what_it_does(doc).as_deref(), Some("Flags X.\nAnd Y."));
        assert_eq!(what_it_does("no headings"), None);
    }
}
