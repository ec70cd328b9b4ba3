//! Every statement of the real-migration corpus (`tests/corpus`) and the examples, for tests that
//! compare two ways of reading the same SQL.

use crate::source::PieceKind;
use std::path::{Path, PathBuf};

/// The SQL statements (as the splitter cuts them) of every `.sql` file under
/// `tests/corpus` and `migrations-examples`.
pub(crate) fn statements() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "sql") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("tests/corpus"), &mut files);
    walk(&root.join("migrations-examples"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for piece in crate::source::split(&text) {
            if piece.kind == PieceKind::Sql {
                out.push(piece.span.slice(&text).to_string());
            }
        }
    }
    out
}
