//! Writing files so that a reader never sees half of one: a temporary file in the
//! same directory, flushed to disk, then renamed over the target.

use std::io::Write;
use std::path::Path;

/// Writes `path` atomically with what `write` produces (and a final newline).
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.write_all(b"\n")?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes `value` as pretty-printed JSON to `path`, atomically.
pub fn write_json_atomically(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(w, value).map_err(std::io::Error::from)
    })
}
