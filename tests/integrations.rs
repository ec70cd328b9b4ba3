//! The GitHub Action (`action.yml`) and the pre-commit hook
//! (`.pre-commit-hooks.yaml`): their files are valid and consistent with the
//! CLI and the README, and the action's lint step, run as the runner would
//! run it, lints the examples and reports through its outputs.

use serde_yaml::Value;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> (String, Value) {
    let text = std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is not YAML: {e}"));
    (text, value)
}

fn str_at<'v>(value: &'v Value, key: &str) -> &'v str {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string `{key}` in {value:?}"))
}

/// Every `inputs.NAME` inside a `${{ … }}` expression of `text`.
fn input_references(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let end = rest[start..].find("}}").map_or(rest.len(), |e| start + e);
        let expression = &rest[start..end];
        for (i, m) in expression.match_indices("inputs.") {
            let name: String = expression[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            names.push(name);
        }
        rest = &rest[end..];
    }
    names
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).unwrap()
}

#[test]
fn the_action_is_a_composite_action_whose_inputs_are_declared_and_documented() {
    let (text, action) = load("action.yml");
    assert!(!str_at(&action, "name").is_empty());
    assert!(!str_at(&action, "description").is_empty());
    let runs = &action["runs"];
    assert_eq!(str_at(runs, "using"), "composite");
    let inputs = action["inputs"].as_mapping().expect("inputs");
    let declared: Vec<&str> = inputs.keys().filter_map(Value::as_str).collect();
    for name in input_references(&text) {
        assert!(
            declared.contains(&name.as_str()),
            "action.yml uses inputs.{name}, which it does not declare"
        );
    }
    let readme = readme();
    for name in &declared {
        assert!(
            readme.contains(&format!("`{name}`")) || readme.contains(&format!(" {name}: ")),
            "README does not document the action's input `{name}`"
        );
    }
    // The defaults are values `migrate lint` accepts.
    let help = Command::new(env!("CARGO_BIN_EXE_migrate"))
        .args(["lint", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for (input, listed) in [("format", "- github:"), ("format", "- sarif:")] {
        assert!(inputs.contains_key(input));
        assert!(help.contains(listed), "`migrate lint --help` lists no {listed}");
    }
    let fail_on = str_at(&inputs[&Value::from("fail-on")], "default");
    assert!(help.contains("[possible values: error, warning, never]"));
    assert!(["error", "warning", "never"].contains(&fail_on));

    let steps = runs["steps"].as_sequence().expect("steps");
    for step in steps {
        let Some(script) = step.get("run").and_then(Value::as_str) else {
            continue;
        };
        // Inputs reach scripts through `env` only: an expression in a
        // script is pasted into it before bash parses it (script injection).
        assert!(
            !script.contains("${{"),
            "an expression in a run script:\n{script}"
        );
        assert_eq!(str_at(step, "shell"), "bash");
    }
    assert!(
        readme.contains("uses: "),
        "README shows no workflow using the action"
    );
}

/// Resolves the expressions a step's `env` holds, as the runner would.
fn resolve(expression: &str, inputs: &serde_yaml::Mapping, given: &[(&str, &str)], temp: &Path) -> String {
    let mut out = expression.to_string();
    while let Some(start) = out.find("${{") {
        let end = start + out[start..].find("}}").expect("an unterminated expression") + 2;
        let inner = out[start + 3..end - 2].trim();
        let value = if let Some(name) = inner.strip_prefix("inputs.") {
            given
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| str_at(&inputs[&Value::from(name)], "default").to_string())
        } else if inner == "runner.temp" {
            temp.display().to_string()
        } else {
            panic!("the lint step's env uses `{inner}`, which this test does not resolve")
        };
        out.replace_range(start..end, &value);
    }
    out
}

/// Runs the action's `Lint` step with `given` inputs; returns its exit
/// code, stdout and what it wrote to `$GITHUB_OUTPUT`.
fn run_lint_step(given: &[(&str, &str)]) -> (Option<i32>, String, String, tempfile::TempDir) {
    let (_, action) = load("action.yml");
    let inputs = action["inputs"].as_mapping().unwrap();
    let step = action["runs"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s.get("id").and_then(Value::as_str) == Some("lint"))
        .expect("a step with id lint");
    let temp = tempfile::tempdir().unwrap();
    let output = temp.path().join("github_output");
    std::fs::write(&output, "").unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_migrate")).parent().unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(str_at(step, "run"))
        .current_dir(root())
        .env("GITHUB_OUTPUT", &output)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()),
        );
    for (key, value) in step["env"].as_mapping().expect("the lint step's env") {
        let value = resolve(value.as_str().unwrap(), inputs, given, temp.path());
        cmd.env(key.as_str().unwrap(), value);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(&output).unwrap(),
        temp,
    )
}

#[test]
fn the_lint_step_annotates_the_examples_and_reports_the_exit_code() {
    let (code, stdout, outputs, _temp) = run_lint_step(&[("paths", "migrations-examples")]);
    // Findings do not fail this step (a later one fails the job after the
    // SARIF upload); the exit code goes to the outputs.
    assert_eq!(code, Some(0), "{stdout}");
    assert!(outputs.contains("exit-code=1"), "{outputs}");
    assert!(
        stdout.contains("::error file=migrations-examples/V4__require_user_email.sql"),
        "{stdout}"
    );
}

#[test]
fn the_lint_step_writes_sarif_for_code_scanning() {
    let (code, stdout, outputs, temp) =
        run_lint_step(&[("paths", "migrations-examples"), ("format", "sarif")]);
    assert_eq!(code, Some(0), "{stdout}");
    let sarif = temp.path().join("safe-migrate.sarif");
    assert!(
        outputs.contains(&format!("sarif-file={}", sarif.display())),
        "{outputs}"
    );
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    assert!(!doc["runs"][0]["results"].as_array().unwrap().is_empty());
}

#[test]
fn the_lint_step_stops_on_a_bad_format_or_a_missing_path() {
    let (code, stdout, _, _temp) = run_lint_step(&[("format", "text")]);
    assert_eq!(code, Some(2), "{stdout}");
    assert!(
        stdout.contains("::error::format must be github or sarif"),
        "{stdout}"
    );
    let (code, _, outputs, _temp) = run_lint_step(&[("paths", "no-such-directory")]);
    assert_eq!(code, Some(2));
    assert!(outputs.contains("exit-code=2"), "{outputs}");
}

#[test]
fn the_pre_commit_hook_runs_a_migrate_subcommand_and_is_documented() {
    let (_, hooks) = load(".pre-commit-hooks.yaml");
    let hooks = hooks.as_sequence().expect("a list of hooks");
    assert!(!hooks.is_empty());
    let readme = readme();
    for hook in hooks {
        let id = str_at(hook, "id");
        assert!(!str_at(hook, "name").is_empty());
        // pre-commit builds a `rust` hook with `cargo install` of this
        // repository, which installs the `migrate` binary.
        assert_eq!(str_at(hook, "language"), "rust");
        let entry: Vec<&str> = str_at(hook, "entry").split_whitespace().collect();
        assert_eq!(entry[0], "migrate", "{id}: the binary is `migrate`");
        let help = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(&entry[1..])
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            help.status.success(),
            "{id}: `{}` is not a command",
            entry.join(" ")
        );
        assert!(
            readme.contains(&format!("id: {id}")),
            "README does not show the hook {id}"
        );
        // Linting the examples as the hook would (with the README's args).
        let out = Command::new(env!("CARGO_BIN_EXE_migrate"))
            .args(&entry[1..])
            .arg("migrations-examples")
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{id}: the examples have findings");
    }
}
