//! The pause image, made locally when it is missing (no registry needed): a root filesystem
//! holding the agent's own binary (run as `pause`, which sleeps, reaps zombies and exits on
//! SIGTERM) plus the shared libraries it is linked against, found in `/proc/self/maps` and the
//! ELF interpreter, so this works for a static and a dynamically linked `minik` alike, on a host
//! or inside the lab's `FROM scratch` container. The tar is written by [`TarWriter`].

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Where the binary sits in the pause image.
pub const PAUSE_PATH: &str = "/pause";

/// The files of the pause root filesystem: (path in the image, path on this machine).
pub fn rootfs_files(binary: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut files = vec![(PAUSE_PATH.to_owned(), binary.to_path_buf())];
    let mut libs = BTreeSet::new();
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    for line in maps.lines() {
        let Some(path) = line.split_whitespace().nth(5) else { continue };
        let file = Path::new(path).file_name().and_then(|f| f.to_str()).unwrap_or_default();
        if path.starts_with('/') && file.contains(".so") {
            libs.insert(path.to_owned());
        }
    }
    let mut head = Vec::new();
    std::fs::File::open(binary)?.take(64 * 1024).read_to_end(&mut head)?;
    if let Some(interp) = elf_interpreter(&head) {
        // Often a symlink (/lib64/ld-linux-x86-64.so.2): store the file under the name the
        // binary asks for.
        libs.insert(interp);
    }
    for lib in libs {
        let real = std::fs::canonicalize(&lib)?;
        files.push((lib, real));
    }
    Ok(files)
}

/// The PT_INTERP path of a 64-bit little-endian ELF file (its first bytes), if any.
pub fn elf_interpreter(head: &[u8]) -> Option<String> {
    if head.get(..4)? != b"\x7fELF" || *head.get(4)? != 2 || *head.get(5)? != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(head.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(head.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(head.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? == 3 {
            let off = usize::try_from(u64_at(ph + 8)?).ok()?;
            let size = usize::try_from(u64_at(ph + 32)?).ok()?;
            let raw = head.get(off..off + size)?;
            let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
            return String::from_utf8(raw[..end].to_vec()).ok();
        }
    }
    None
}

/// A minimal ustar writer: directories and regular files, enough for `docker import`.
pub struct TarWriter<W: Write> {
    out: W,
    dirs: BTreeSet<String>,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter { out, dirs: BTreeSet::new() }
    }

    /// Adds `path` (absolute or relative, `/`-separated) with `data`, creating parent directories.
    pub fn file(&mut self, path: &str, mode: u32, data: &mut dyn Read, size: u64) -> std::io::Result<()> {
        let rel = path.trim_start_matches('/');
        let mut parent = String::new();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            parent.push_str(part);
            parent.push('/');
            if self.dirs.insert(parent.clone()) {
                self.header(&parent, 0o755, 0, b'5')?;
            }
        }
        self.header(rel, mode, size, b'0')?;
        let copied = std::io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{path} changed while being read"),
            ));
        }
        let pad = (512 - (size % 512)) % 512;
        self.out.write_all(&vec![0u8; usize::try_from(pad).unwrap_or(0)])
    }

    /// Ends the archive (two zero blocks) and returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn header(&mut self, name: &str, mode: u32, size: u64, kind: u8) -> std::io::Result<()> {
        let mut h = [0u8; 512];
        let (prefix, base) = split_name(name)?;
        h[..base.len()].copy_from_slice(base.as_bytes());
        octal(&mut h[100..108], u64::from(mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 0);
        h[148..156].copy_from_slice(b"        ");
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        let chk = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(chk.as_bytes());
        self.out.write_all(&h)
    }
}

/// ustar keeps names up to 100 bytes, or a prefix of up to 155 bytes split at a `/`.
fn split_name(name: &str) -> std::io::Result<(&str, &str)> {
    if name.len() <= 100 {
        return Ok(("", name));
    }
    let too_long = || std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("path too long for tar: {name}"));
    let trimmed = name.trim_end_matches('/');
    let mut cut = None;
    for (i, c) in trimmed.char_indices() {
        if c == '/' && i <= 155 && name.len() - i - 1 <= 100 {
            cut = Some(i);
            break;
        }
    }
    let i = cut.ok_or_else(too_long)?;
    Ok((&name[..i], &name[i + 1..]))
}

/// Writes `value` as zero-padded octal, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let s = format!("{value:0width$o}");
    let s = &s[s.len().saturating_sub(width)..];
    field[..width].copy_from_slice(s.as_bytes());
    field[width] = 0;
}

/// Writes the pause root filesystem as a tar file at `out`.
pub fn write_rootfs_tar(binary: &Path, out: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
    let mut tar = TarWriter::new(std::io::BufWriter::new(file));
    for (inside, host) in rootfs_files(binary)? {
        let mut f = std::fs::File::open(&host)?;
        let size = f.metadata()?.len();
        tar.file(&inside, 0o755, &mut f, size)?;
    }
    tar.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_has_parents_headers_and_padding() {
        let mut tar = TarWriter::new(Vec::new());
        tar.file("/lib/x/a.so", 0o644, &mut &b"hello"[..], 5).unwrap();
        tar.file("/lib/x/b", 0o755, &mut &b""[..], 0).unwrap();
        let out = tar.finish().unwrap();
        // lib/, lib/x/, a.so header + one data block, b header, two end blocks.
        assert_eq!(out.len(), 512 * 7);
        assert_eq!(&out[..4], b"lib/");
        assert_eq!(out[156], b'5');
        assert_eq!(&out[1024..1033], b"lib/x/a.s");
        assert_eq!(out[1024 + 156], b'0');
        assert_eq!(&out[1024 + 124..1024 + 135], b"00000000005");
        assert_eq!(&out[1024 + 257..1024 + 262], b"ustar");
        assert_eq!(&out[1536..1541], b"hello");
        // The checksum is the sum of the header with the checksum field as spaces.
        let h = &out[1024..1536];
        let mut copy = h.to_vec();
        copy[148..156].copy_from_slice(b"        ");
        let sum: u32 = copy.iter().map(|b| u32::from(*b)).sum();
        let written = std::str::from_utf8(&h[148..154]).unwrap();
        assert_eq!(u32::from_str_radix(written, 8).unwrap(), sum);
        assert!(out[2560..].iter().all(|b| *b == 0));
    }

    #[test]
    fn tar_splits_long_names() {
        let (a, b, f) = ("a".repeat(60), "b".repeat(60), "f".repeat(50));
        let long = format!("{a}/{b}/{f}");
        let mut tar = TarWriter::new(Vec::new());
        tar.file(&long, 0o644, &mut &b"x"[..], 1).unwrap();
        let out = tar.finish().unwrap();
        // Headers: a/, a/b/ (122 bytes: prefix a, name b/), then the file (prefix a/b, name f).
        let dir = &out[512..1024];
        assert_eq!(&dir[..61], format!("{b}/").as_bytes());
        assert_eq!(&dir[345..405], a.as_bytes());
        let file = &out[1024..1536];
        assert_eq!(&file[..50], f.as_bytes());
        assert_eq!(file[50], 0);
        assert_eq!(&file[345..466], format!("{a}/{b}").as_bytes());
        // A single name part longer than 100 bytes cannot be stored.
        let mut tar = TarWriter::new(Vec::new());
        assert!(tar.file(&"x".repeat(120), 0o644, &mut &b""[..], 0).is_err());
    }

    #[test]
    fn finds_the_interpreter_of_this_test_binary() {
        let me = std::env::current_exe().unwrap();
        let mut head = Vec::new();
        std::fs::File::open(&me).unwrap().take(64 * 1024).read_to_end(&mut head).unwrap();
        let interp = elf_interpreter(&head);
        // Test binaries are dynamically linked on glibc hosts: the interpreter is a loader path.
        if let Some(i) = &interp {
            assert!(i.starts_with('/') && i.contains("ld"), "{i}");
        }
        assert_eq!(elf_interpreter(b"not an elf"), None);
        let files = rootfs_files(&me).unwrap();
        assert_eq!(files[0].0, PAUSE_PATH);
        if let Some(i) = interp {
            assert!(files.iter().any(|(inside, _)| *inside == i));
            assert!(files.iter().any(|(inside, _)| inside.contains("libc.so")));
        }
    }
}
