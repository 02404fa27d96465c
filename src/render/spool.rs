//! Text written now and copied out later: a renderer that is fed a repository at a
//! time writes each part of its output (the changed repositories, the images in use,
//! the table rows...) to its own spool, and puts the parts in their order at the end.
//! A spool is held in memory up to [`IN_MEMORY`] bytes, then goes on in a temporary
//! file, so a plan of millions of images is rendered in bounded memory.

use std::io::{self, Seek, Write};

/// Bytes a spool holds in memory before it moves to a temporary file.
pub const IN_MEMORY: usize = 4 << 20;

/// Text being written, in memory or in a temporary file.
#[derive(Debug)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<io::BufWriter<std::fs::File>>,
    limit: usize,
    written: u64,
}

impl Default for Spool {
    fn default() -> Self {
        Self::with_limit(IN_MEMORY)
    }
}

impl Spool {
    /// A spool that moves to a file past `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            memory: Vec::new(),
            file: None,
            limit,
            written: 0,
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Whether the text went on in a temporary file.
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    /// Writes everything written, in order, to `out`.
    pub fn copy_to(self, out: &mut dyn Write) -> io::Result<()> {
        match self.file {
            None => out.write_all(&self.memory),
            Some(file) => {
                let mut file = file.into_inner().map_err(|e| e.into_error())?;
                file.rewind()?;
                io::copy(&mut file, out).map(|_| ())
            }
        }
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() && self.memory.len() + buf.len() > self.limit {
            let mut file = io::BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
            file.write_all(&self.memory)?;
            self.memory = Vec::new();
            self.file = Some(file);
        }
        match &mut self.file {
            Some(file) => file.write_all(buf)?,
            None => self.memory.extend_from_slice(buf),
        }
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Keeps the first `room` bytes written and drops the rest: a text cut to a limit
/// (the step summary's) without holding what is cut. Whoever reads it sizes the room
/// one byte over its limit, so a text longer than the limit still shows it was cut.
#[derive(Debug)]
pub struct Head {
    kept: Vec<u8>,
    room: usize,
}

impl Head {
    /// Keeps at most `room` bytes.
    pub fn new(room: usize) -> Self {
        Self {
            kept: Vec::new(),
            room,
        }
    }

    /// The bytes kept.
    pub fn into_kept(self) -> Vec<u8> {
        self.kept
    }
}

impl Write for Head {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(self.room - self.kept.len());
        self.kept.extend_from_slice(&buf[..take]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spool_past_its_limit_goes_on_disk_and_gives_back_every_byte_in_order() {
        let mut spool = Spool::with_limit(10);
        let mut expected = Vec::new();
        for i in 0..100 {
            let line = format!("line {i}\n");
            spool.write_all(line.as_bytes()).unwrap();
            expected.extend_from_slice(line.as_bytes());
        }
        assert!(spool.on_disk());
        let mut out = Vec::new();
        spool.copy_to(&mut out).unwrap();
        assert_eq!(out, expected);

        let mut small = Spool::with_limit(1 << 10);
        small.write_all(b"abc").unwrap();
        assert!(!small.on_disk() && !small.is_empty());
        let mut out = Vec::new();
        small.copy_to(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert!(Spool::default().is_empty());
    }

    #[test]
    fn a_head_keeps_its_room_and_drops_the_rest() {
        let mut head = Head::new(5);
        head.write_all(b"abc").unwrap();
        assert_eq!(head.into_kept(), b"abc");
        let mut head = Head::new(5);
        head.write_all(b"abc").unwrap();
        head.write_all(b"defgh").unwrap();
        head.write_all(b"ij").unwrap();
        assert_eq!(head.into_kept(), b"abcde");
    }
}
