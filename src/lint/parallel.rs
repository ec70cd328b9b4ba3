//! Reading a history on every core while the driver walks it in order.

use super::{Driver, FileLint, Summary};
use crate::parse::{parse_source_indexed, Stmt};
use crate::source::{self, MigrationFile, Source};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Reads, splits and parses `files` on every core and lints them on this
/// thread in history order (the schema model is sequential), handing each
/// linted file to `sink` as soon as it is done.
///
/// One helper thread per extra core takes the next file index from a shared
/// counter; this thread lints the next file in order when it has arrived and
/// otherwise parses a file itself instead of waiting, so two cores stay busy
/// without a third thread competing for them. At most `IN_FLIGHT` parsed
/// files wait here, so memory does not grow with the number of files. The
/// result is [`super::lint`]'s over [`source::read`] of every file; a
/// read error is the first in history order.
pub fn lint_files<E: From<source::Error>>(
    files: Vec<MigrationFile>,
    linter: &mut Driver,
    mut sink: impl FnMut(FileLint) -> Result<(), E>,
) -> Result<Summary, E> {
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let parse = |file: &MigrationFile| -> Parsed {
        source::read(file.clone()).map(|source| {
            let stmts = parse_source_indexed(&source);
            (source, stmts)
        })
    };
    if cores <= 1 {
        for file in &files {
            let (source, stmts) = parse(file)?;
            sink(linter.file(source, &stmts))?;
        }
        return Ok(linter.summary());
    }
    let next = AtomicUsize::new(0);
    let files = &files;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<(usize, Parsed)>(IN_FLIGHT);
        for _ in 1..cores {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                // The receiver is gone after an error: stop.
                if tx.send((i, parse(file))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Parsed files that are not next in history order yet, by index.
        let mut early: BTreeMap<usize, Parsed> = BTreeMap::new();
        let mut wanted = 0;
        while wanted < files.len() {
            if let Some(parsed) = early.remove(&wanted) {
                let (source, stmts) = parsed?;
                sink(linter.file(source, &stmts))?;
                wanted += 1;
                continue;
            }
            if let Ok((i, parsed)) = rx.try_recv() {
                early.insert(i, parsed);
                continue;
            }
            if early.len() < IN_FLIGHT {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if let Some(file) = files.get(i) {
                    early.insert(i, parse(file));
                    continue;
                }
            }
            match rx.recv() {
                Ok((i, parsed)) => {
                    early.insert(i, parsed);
                }
                // Every helper has stopped without sending the next file
                // (none can, short of a panic): parse it here.
                Err(_) => {
                    early.insert(wanted, parse(&files[wanted]));
                }
            }
        }
        Ok(linter.summary())
    })
}

/// A file read, split and parsed, ready to lint.
type Parsed = Result<(Source, Vec<(usize, Stmt)>), source::Error>;

/// Parsed files waiting to be linted, at most: enough to keep every core
/// busy, few enough that memory stays flat.
const IN_FLIGHT: usize = 16;
