//! Writing files so that a reader never sees half of one: a temporary file in the
//! same directory, flushed to disk, then renamed over the target. The result has the
//! replaced file's permissions, or, for a new file, those the umask gives any new
//! file (the temporary file's own, owner-only, are not kept).

use std::io::Write;
use std::path::Path;

/// Writes `path` atomically with what `write` produces (and a final newline).
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = folder_of(path)?;
    let existing = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut builder = tempfile::Builder::new();
    if let Some(p) = new_file_permissions() {
        builder.permissions(p);
    }
    // The temporary file's name is ours, not the user's: name the folder instead.
    let mut tmp = builder.tempfile_in(dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot create a file in {}: {}", dir.display(), e.kind()),
        )
    })?;
    if let Some(p) = existing {
        // Not subject to the umask: exactly the replaced file's.
        tmp.as_file().set_permissions(p)?;
    }
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

/// The folder `path` is written in (`.` for a bare name), if it exists.
pub fn folder_of(path: &Path) -> std::io::Result<&Path> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the folder {} does not exist", dir.display()),
        ));
    }
    Ok(dir)
}

/// The permissions a new file is created with (the umask applies to them).
#[cfg(unix)]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o666))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    None
}

/// Writes `value` as pretty-printed JSON to `path`, atomically.
pub fn write_json_atomically(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(w, value).map_err(std::io::Error::from)
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::write_atomically;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_new_one_follows_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        // What the umask gives a new file here.
        let reference = dir.path().join("reference");
        std::fs::File::create(&reference).unwrap();
        let new = dir.path().join("new.json");
        write_atomically(&new, |w| std::io::Write::write_all(w, b"{}")).unwrap();
        assert_eq!(mode(&new), mode(&reference));

        for m in [0o644, 0o640, 0o600, 0o664] {
            let existing = dir.path().join(format!("existing-{m:o}.json"));
            std::fs::write(&existing, "old").unwrap();
            std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(m)).unwrap();
            write_atomically(&existing, |w| std::io::Write::write_all(w, b"new")).unwrap();
            assert_eq!(mode(&existing), m, "{m:o}");
            assert_eq!(std::fs::read_to_string(&existing).unwrap(), "new\n");
        }
    }
}
