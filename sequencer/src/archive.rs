//! The blob archive: every blob the node posts, written to disk before its batch is submitted,
//! so the data stays available after consensus clients prune it (about 18 days). The files are
//! the blobs' bytes, `batch-<number>-<index>.blob`; any reader checks them against the
//! versioned hashes the L1 verified (`zkperp_state::rebuild`), so an archive needs no trust.

use std::path::{Path, PathBuf};

use zkperp_state::blob::{Blob, BlobError};

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("batch {batch}, blob {index}: {path} is no blob: {source}")]
    NotABlob {
        batch: u64,
        index: usize,
        path: PathBuf,
        source: BlobError,
    },
}

/// The file of blob `index` of batch `number` in the archive `dir`.
pub fn path(dir: &Path, number: u64, index: usize) -> PathBuf {
    dir.join(format!("batch-{number}-{index}.blob"))
}

/// Writes a batch's blobs (each file written whole, synced, then renamed into place).
pub fn write(dir: &Path, number: u64, blobs: &[Blob]) -> Result<(), ArchiveError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (index, blob) in blobs.iter().enumerate() {
        let target = path(dir, number, index);
        let tmp = target.with_extension("blob.tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            file.write_all(blob.as_bytes()).map_err(io(&tmp))?;
            file.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
    }
    Ok(())
}

/// Batch `number`'s `count` blobs, if the archive has them all.
pub fn read(dir: &Path, number: u64, count: usize) -> Result<Option<Vec<Blob>>, ArchiveError> {
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let file = path(dir, number, index);
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ArchiveError::Io { path: file, source }),
        };
        out.push(
            Blob::from_bytes(&bytes).map_err(|source| ArchiveError::NotABlob {
                batch: number,
                index,
                path: file,
                source,
            })?,
        );
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_a_damaged_file_is_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let blob = zkperp_state::blob::encode(&[zkperp_state::Fr::from(7u64)]).expect("blob");
        assert!(read(dir.path(), 3, 1).expect("reads").is_none());
        write(dir.path(), 3, std::slice::from_ref(&blob)).expect("writes");
        assert_eq!(read(dir.path(), 3, 1).expect("reads"), Some(vec![blob]));
        assert!(
            read(dir.path(), 3, 2).expect("reads").is_none(),
            "one missing"
        );
        std::fs::write(path(dir.path(), 3, 0), b"short").expect("damage");
        let err = read(dir.path(), 3, 1).expect_err("damaged");
        assert!(err.to_string().contains("batch 3, blob 0"), "{err}");
    }
}
