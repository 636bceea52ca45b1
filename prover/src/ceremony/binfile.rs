//! iden3's binary container, shared by `.r1cs`, `.wtns`, `.ptau` and `.zkey` (binfileutils):
//!
//! ```text
//! magic[4] | u32 version | u32 sections | per section: u32 id | u64 size | body[size]
//! ```
//! Sections may come in any order; readers find them by id. Every integer is little-endian.

use std::collections::BTreeMap;
use std::ops::Range;

use super::FormatError;

/// A parsed container: its sections' bodies by id, and where each lies in the file.
#[derive(Debug)]
pub struct BinFile<'a> {
    pub version: u32,
    bytes: &'a [u8],
    sections: BTreeMap<u32, Range<usize>>,
}

impl<'a> BinFile<'a> {
    /// Reads the container of a `kind` file (`magic`), of a version in `versions`, refusing a
    /// repeated section, truncation, and bytes after the last section.
    pub fn parse(
        kind: &'static str,
        bytes: &'a [u8],
        magic: &[u8; 4],
        versions: std::ops::RangeInclusive<u32>,
    ) -> Result<Self, FormatError> {
        let mut r = Reader::new(kind, bytes);
        if r.take(4)? != magic {
            return Err(FormatError::new(kind, "not this kind of file (magic)"));
        }
        let version = r.u32()?;
        if !versions.contains(&version) {
            return Err(FormatError::new(
                kind,
                format!("version {version} is not supported"),
            ));
        }
        let count = r.u32()?;
        let mut sections = BTreeMap::new();
        for _ in 0..count {
            let id = r.u32()?;
            let size = usize::try_from(r.u64()?)
                .map_err(|_| FormatError::new(kind, "a section is larger than memory"))?;
            let start = r.at;
            r.take(size)?;
            if sections.insert(id, start..start + size).is_some() {
                return Err(FormatError::new(
                    kind,
                    format!("section {id} appears twice"),
                ));
            }
        }
        if r.at != bytes.len() {
            return Err(FormatError::new(kind, "bytes after the last section"));
        }
        Ok(BinFile {
            version,
            bytes,
            sections,
        })
    }

    /// Section `id`'s body.
    pub fn section(&self, kind: &'static str, id: u32) -> Result<&'a [u8], FormatError> {
        self.sections
            .get(&id)
            .map(|range| &self.bytes[range.clone()])
            .ok_or_else(|| FormatError::new(kind, format!("no section {id}")))
    }

    pub fn has(&self, id: u32) -> bool {
        self.sections.contains_key(&id)
    }

    /// Section `id`'s body and the `extra` bytes the file holds after it (when there are).
    pub fn section_with_following(&self, id: u32, extra: usize) -> Option<&'a [u8]> {
        let range = self.sections.get(&id)?;
        self.bytes.get(range.start..range.end.checked_add(extra)?)
    }
}

/// Writes a container with `sections` in the given order.
pub fn write(magic: &[u8; 4], version: u32, sections: &[(u32, &[u8])]) -> Vec<u8> {
    let size = 12 + sections.iter().map(|(_, s)| 12 + s.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (id, body) in sections {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// A cursor over a section's bytes; every read past the end is a [`FormatError`] naming the file.
#[derive(Debug)]
pub struct Reader<'a> {
    kind: &'static str,
    pub bytes: &'a [u8],
    pub at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(kind: &'static str, bytes: &'a [u8]) -> Self {
        Reader { kind, bytes, at: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| FormatError::new(self.kind, "truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// Refuses bytes left over in a section that should have been read whole.
    pub fn end(&self, what: &str) -> Result<(), FormatError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(FormatError::new(
                self.kind,
                format!("the {what} section is longer than its content"),
            ))
        }
    }
}
