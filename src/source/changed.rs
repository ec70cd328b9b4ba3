//! `--changed-since REF`: which migration files a pull request adds or
//! changes, from git. The files added since REF are deployed together (a
//! table one of them creates is new in the others); only added and changed
//! files are reported, while the whole history still builds the schema.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Migration files added or changed since a git revision, canonical paths.
#[derive(Debug, Default, Clone)]
pub struct Changed {
    /// Added since the revision (committed or not, untracked included).
    pub added: HashSet<PathBuf>,
    /// Present at the revision and changed since.
    pub modified: HashSet<PathBuf>,
}

impl Changed {
    /// Whether `path` was added or changed.
    pub fn touches(&self, path: &Path) -> bool {
        let path = canonical(path);
        self.added.contains(&path) || self.modified.contains(&path)
    }

    /// Whether `path` was added.
    pub fn added(&self, path: &Path) -> bool {
        self.added.contains(&canonical(path))
    }
}

/// Asking git failed.
#[derive(Debug, thiserror::Error)]
#[error("--changed-since {revision}: {message}")]
pub struct GitError {
    pub revision: String,
    pub message: String,
}

impl GitError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        "run inside a git checkout that has the revision (in CI, fetch it: `git fetch origin main`), \
         e.g. --changed-since origin/main"
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// The migration files under `paths` added or changed since `revision`
/// (the merge base with it, as a pull request sees it).
pub fn changed_since(revision: &str, paths: &[PathBuf]) -> Result<Changed, GitError> {
    let fail = |message: String| GitError {
        revision: revision.to_string(),
        message,
    };
    let dir = paths
        .first()
        .map(|p| {
            if p.is_dir() {
                p.clone()
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or_default()
            }
        })
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let git = |args: &[&str]| -> Result<String, GitError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .output()
            .map_err(|e| fail(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?.trim());
    let base = git(&["merge-base", revision, "HEAD"])?;
    let base = base.trim();
    let specs: Vec<String> = paths.iter().map(|p| canonical(p).display().to_string()).collect();
    let list = |args: &[&str]| -> Result<HashSet<PathBuf>, GitError> {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--");
        all.extend(specs.iter().map(String::as_str));
        Ok(git(&all)?
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| canonical(&top.join(l)))
            .collect())
    };
    let mut added = list(&["diff", "--name-only", "--no-renames", "--diff-filter=A", base])?;
    added.extend(list(&[
        "ls-files",
        "--others",
        "--exclude-standard",
        "--full-name",
    ])?);
    let modified = list(&["diff", "--name-only", "--no-renames", "--diff-filter=M", base])?;
    Ok(Changed { added, modified })
}
