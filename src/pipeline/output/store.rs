//! Where a dataset's files are published: a local directory, or a bucket on S3 or any
//! S3-compatible server (through the `object_store` crate).
//!
//! In: complete files staged on local disk and their keys relative to the dataset root
//! (`table=faces/date=…/camera=…/part-ID.parquet`). Out: the same bytes at `ROOT/KEY`, each
//! appearing at once and complete: a `rename` on a local file system; on S3 one PUT, or for
//! files over [`MULTIPART_CHUNK`] a multipart upload that becomes visible only when it is
//! completed (an interrupted one leaves no object; buckets should have the usual lifecycle
//! rule that aborts incomplete multipart uploads).
//!
//! S3 settings come from the standard AWS variables: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`),
//! `AWS_ENDPOINT_URL` for S3-compatible servers, and `AWS_ALLOW_HTTP=true` for a plain-http
//! endpoint (a test server on loopback).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt as _, PutMode, PutPayload, WriteMultipart};

/// Files larger than this are uploaded in parts of this size (S3 wants at least 5 MiB).
pub const MULTIPART_CHUNK: usize = 8 << 20;

/// Errors reaching or writing the dataset root.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `s3://` address is malformed.
    #[error("{url}: {reason}")]
    Url {
        /// The address given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The object store could not be configured (credentials, region, endpoint).
    #[error("{url}: {source}")]
    Config {
        /// The address given.
        url: String,
        /// Cause.
        source: object_store::Error,
    },
    /// A request to the object store failed.
    #[error("cannot {action} {key}: {source}")]
    Object {
        /// What was being done.
        action: &'static str,
        /// Full key or address.
        key: String,
        /// Cause.
        source: object_store::Error,
    },
    /// A local file operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the failure may pass by itself: the object store could not be reached, timed
    /// out or kept failing (HTTP 5xx) through the client's own retries, so the same command
    /// can succeed later. False for a malformed address, bad credentials or configuration,
    /// refused permissions and local file errors, which a retry would meet again.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::Object { source: object_store::Error::Generic { .. }, .. })
    }
}

/// The root of a dataset.
#[derive(Debug)]
pub enum DatasetRoot {
    /// A directory on a (possibly shared) file system.
    Local(PathBuf),
    /// A prefix in an S3 bucket.
    S3(S3Root),
}

/// `s3://bucket/prefix/` with its client and the runtime that drives it.
#[derive(Debug)]
pub struct S3Root {
    url: String,
    /// The bucket (an S3 client; any object store in tests).
    store: Arc<dyn ObjectStore>,
    prefix: String,
    runtime: tokio::runtime::Runtime,
}

/// Whether `out` names an object store (`s3://…`) rather than a local path.
pub fn is_remote(out: &Path) -> bool {
    out.to_str().is_some_and(|s| s.starts_with("s3://"))
}

impl DatasetRoot {
    /// The root named by `out`: `s3://bucket/prefix/` or a local directory (not created here).
    pub fn open(out: &Path) -> Result<Self, StoreError> {
        match out.to_str().and_then(|s| s.strip_prefix("s3://")) {
            Some(rest) => S3Root::open(rest).map(DatasetRoot::S3),
            None => Ok(DatasetRoot::Local(out.to_path_buf())),
        }
    }

    /// The root as the user wrote it, for messages and reports.
    pub fn display(&self) -> String {
        match self {
            DatasetRoot::Local(p) => p.display().to_string(),
            DatasetRoot::S3(s) => s.url.clone(),
        }
    }

    /// The full address of `key`, for messages and reports.
    pub fn address(&self, key: &str) -> String {
        match self {
            DatasetRoot::Local(p) => p.join(key).display().to_string(),
            DatasetRoot::S3(s) => format!("{}{key}", s.url),
        }
    }

    /// The directory, for a local root.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            DatasetRoot::Local(p) => Some(p),
            DatasetRoot::S3(_) => None,
        }
    }

    /// Where this run stages its files before publishing them: `ROOT/_staging` locally (the
    /// same file system, so publishing is a rename; engines skip `_`-prefixed folders), the
    /// system temporary directory for S3.
    pub fn staging_parent(&self) -> PathBuf {
        match self {
            DatasetRoot::Local(p) => p.join("_staging"),
            DatasetRoot::S3(_) => std::env::temp_dir().join("fer-batch-staging"),
        }
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self {
            DatasetRoot::Local(p) => Ok(p.join(key).is_file()),
            DatasetRoot::S3(s) => match s.block_on(s.store.head(&s.path(key)?)) {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(source) => Err(s.error("look up", key, source)),
            },
        }
    }

    /// The bytes of `key`, or `None` when it does not exist.
    pub fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            DatasetRoot::Local(p) => match std::fs::read(p.join(key)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(StoreError::Io { action: "read", path: p.join(key), source }),
            },
            DatasetRoot::S3(s) => {
                let path = s.path(key)?;
                let got = s.block_on(async { s.store.get(&path).await?.bytes().await });
                match got {
                    Ok(b) => Ok(Some(b.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(source) => Err(s.error("read", key, source)),
                }
            }
        }
    }

    /// Writes `bytes` to `key` only if `key` does not exist yet (an atomic create: of two
    /// concurrent writers exactly one succeeds). Returns whether this call created it.
    pub fn create_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, StoreError> {
        match self {
            DatasetRoot::Local(p) => create_new_local(&p.join(key), &bytes),
            DatasetRoot::S3(s) => {
                let path = s.path(key)?;
                match s.block_on(s.store.put_opts(&path, PutPayload::from(bytes), PutMode::Create.into())) {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
                    Err(source) => Err(s.error("create", key, source)),
                }
            }
        }
    }

    /// Whether the root already holds `table=…` folders (local) or prefixes (S3).
    pub fn has_tables(&self) -> Result<bool, StoreError> {
        match self {
            DatasetRoot::Local(p) => {
                Ok(std::fs::read_dir(p).map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("table="))).unwrap_or(false))
            }
            DatasetRoot::S3(s) => {
                let prefix = (!s.prefix.is_empty()).then(|| ObjectPath::from_iter(s.prefix.split('/')));
                let listed = s.block_on(s.store.list_with_delimiter(prefix.as_ref())).map_err(|e| s.error("list", "", e))?;
                Ok(listed.common_prefixes.iter().any(|p| p.filename().is_some_and(|f| f.starts_with("table="))))
            }
        }
    }

    /// Moves the complete local file `staged` to `key`: a rename (local; the staging folder is
    /// on the same file system) or an upload (S3), after which the staged file is removed.
    pub fn publish(&self, staged: &Path, key: &str) -> Result<(), StoreError> {
        match self {
            DatasetRoot::Local(p) => {
                let dest = p.join(key);
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { action: "create the folder", path: dir.to_path_buf(), source })?;
                }
                std::fs::rename(staged, &dest).map_err(|source| StoreError::Io { action: "move a staged file to", path: dest, source })
            }
            DatasetRoot::S3(s) => {
                s.upload(staged, key)?;
                std::fs::remove_file(staged).ok();
                Ok(())
            }
        }
    }
}

/// Creates `path` with `bytes` unless it exists: written to a private temporary, then
/// hard-linked into place (`link` fails when the name exists, unlike `rename`).
fn create_new_local(path: &Path, bytes: &[u8]) -> Result<bool, StoreError> {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + use<> {
        let path = path.to_path_buf();
        move |source| StoreError::Io { action, path, source }
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io("write", &tmp))?;
    let linked = match std::fs::hard_link(&tmp, path) {
        // File systems without hard links: a plain check-then-rename (not atomic).
        Err(e) if matches!(e.kind(), std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied) && !path.exists() => std::fs::rename(&tmp, path),
        other => other,
    };
    std::fs::remove_file(&tmp).ok();
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io("create", path)(e)),
    }
}

impl S3Root {
    /// `rest` is the address after `s3://`: `bucket[/prefix[/]]`.
    fn open(rest: &str) -> Result<Self, StoreError> {
        let url = format!("s3://{}/", rest.trim_end_matches('/'));
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_owned();
        if bucket.is_empty() {
            return Err(StoreError::Url { url, reason: "no bucket name (expected s3://bucket/prefix/)".into() });
        }
        if prefix.split('/').any(|s| s == "." || s == "..") || prefix.contains("//") {
            return Err(StoreError::Url { url, reason: "the prefix has an empty, `.` or `..` segment".into() });
        }
        let store = AmazonS3Builder::from_env().with_bucket_name(bucket).build().map_err(|source| StoreError::Config { url: url.clone(), source })?;
        Self::with_store(url, Arc::new(store), prefix)
    }

    /// The root `url` over `store`, keys under `prefix`.
    fn with_store(url: String, store: Arc<dyn ObjectStore>, prefix: String) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fer-batch-s3")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io { action: "start the I/O runtime for", path: PathBuf::from(&url), source })?;
        Ok(Self { url, store, prefix, runtime })
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    fn key(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}/{key}", self.prefix) }
    }

    fn path(&self, key: &str) -> Result<ObjectPath, StoreError> {
        ObjectPath::parse(self.key(key)).map_err(|e| StoreError::Object { action: "name", key: format!("{}{key}", self.url), source: e.into() })
    }

    fn error(&self, action: &'static str, key: &str, source: object_store::Error) -> StoreError {
        StoreError::Object { action, key: format!("{}{key}", self.url), source }
    }

    /// One PUT for small files; a multipart upload, aborted on any error, for large ones.
    fn upload(&self, staged: &Path, key: &str) -> Result<(), StoreError> {
        let io = |source| StoreError::Io { action: "read the staged file", path: staged.to_path_buf(), source };
        let path = self.path(key)?;
        let size = std::fs::metadata(staged).map_err(io)?.len();
        if size <= MULTIPART_CHUNK as u64 {
            let bytes = std::fs::read(staged).map_err(io)?;
            return self.block_on(self.store.put(&path, PutPayload::from(bytes))).map(|_| ()).map_err(|e| self.error("upload", key, e));
        }
        let mut file = std::fs::File::open(staged).map_err(io)?;
        self.block_on(async {
            let upload = self.store.put_multipart(&path).await.map_err(|e| self.error("start the upload of", key, e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_CHUNK);
            let mut buf = vec![0u8; MULTIPART_CHUNK];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        writer.abort().await.ok();
                        return Err(io(e));
                    }
                };
                if let Err(e) = writer.wait_for_capacity(4).await {
                    writer.abort().await.ok();
                    return Err(self.error("upload", key, e));
                }
                writer.write(&buf[..n]);
            }
            writer.finish().await.map(|_| ()).map_err(|e| self.error("complete the upload of", key, e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_addresses_are_parsed_and_checked() {
        assert!(is_remote(Path::new("s3://b/p/")));
        assert!(!is_remote(Path::new("out/s3:/x")));
        assert!(matches!(DatasetRoot::open(Path::new("s3:///x")), Err(StoreError::Url { .. })));
        assert!(matches!(DatasetRoot::open(Path::new("s3://b/a/../c")), Err(StoreError::Url { .. })));
        assert!(matches!(DatasetRoot::open(Path::new("out/")), Ok(DatasetRoot::Local(_))));
    }

    /// An S3 endpoint that nothing listens on fails as temporary (a retry of the run may
    /// succeed); an address, a permission or a local file error does not.
    #[test]
    fn an_unreachable_endpoint_is_a_temporary_failure() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let store = AmazonS3Builder::new()
            .with_bucket_name("b")
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("k")
            .with_secret_access_key("s")
            .with_retry(object_store::RetryConfig { max_retries: 0, ..Default::default() })
            .build()
            .unwrap();
        let root = DatasetRoot::S3(S3Root::with_store("s3://b/p/".into(), Arc::new(store), "p".into()).unwrap());
        let err = root.exists("_fer_batch_dataset.json").unwrap_err();
        assert!(err.is_temporary(), "{err:?}");
        let err = root.has_tables().unwrap_err();
        assert!(err.is_temporary(), "{err:?}");

        assert!(!DatasetRoot::open(Path::new("s3:///x")).unwrap_err().is_temporary());
        let denied = StoreError::Object {
            action: "read",
            key: "s3://b/p/k".into(),
            source: object_store::Error::PermissionDenied { path: "p/k".into(), source: "403".into() },
        };
        assert!(!denied.is_temporary());
        let local = StoreError::Io { action: "read", path: "x".into(), source: std::io::ErrorKind::TimedOut.into() };
        assert!(!local.is_temporary());
    }

    /// The S3 code path over object_store's in-memory store (moto in tests/cluster/s3-test.sh
    /// covers the real protocol, with parts under the multipart size): one PUT up to
    /// [`MULTIPART_CHUNK`], a multipart upload of three parts above it, byte for byte, under the
    /// prefix, the staged file removed; an atomic create; table prefixes listed.
    #[test]
    fn remote_uploads_small_files_whole_and_large_ones_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(object_store::memory::InMemory::new());
        let s3 = S3Root::with_store("s3://test/night/".into(), store.clone(), "night".into()).unwrap();
        let root = DatasetRoot::S3(s3);
        assert!(!root.has_tables().unwrap());
        let big: Vec<u8> = (0..2 * MULTIPART_CHUNK + 5).map(|i| (i % 251) as u8).collect();
        for (name, bytes) in [("small", b"abc".to_vec()), ("big", big)] {
            let staged = dir.path().join(format!("{name}.staged"));
            std::fs::write(&staged, &bytes).unwrap();
            let key = format!("table=faces/{name}.parquet");
            root.publish(&staged, &key).unwrap();
            assert!(!staged.exists(), "the staged file is removed after the upload");
            assert!(root.exists(&key).unwrap());
            assert_eq!(root.read(&key).unwrap().unwrap(), bytes, "{name}");
            let DatasetRoot::S3(s3) = &root else { unreachable!() };
            let meta = s3.block_on(store.head(&ObjectPath::from(format!("night/{key}")))).unwrap();
            assert_eq!(meta.size, bytes.len() as u64);
        }
        assert!(root.has_tables().unwrap());
        assert!(root.create_new("_fer-batch.json", b"1".to_vec()).unwrap());
        assert!(!root.create_new("_fer-batch.json", b"2".to_vec()).unwrap());
        assert_eq!(root.read("_fer-batch.json").unwrap().as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn local_create_new_refuses_an_existing_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = DatasetRoot::Local(dir.path().to_path_buf());
        assert!(root.create_new("m.json", b"1".to_vec()).unwrap());
        assert!(!root.create_new("m.json", b"2".to_vec()).unwrap());
        assert_eq!(root.read("m.json").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(root.read("absent").unwrap(), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary left");
    }

    #[test]
    fn local_publish_renames_into_nested_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = DatasetRoot::Local(dir.path().join("ds"));
        let staged = dir.path().join("x.staged");
        std::fs::write(&staged, b"abc").unwrap();
        root.publish(&staged, "table=faces/date=unknown/camera=a/part-1.parquet").unwrap();
        assert!(!staged.exists());
        assert!(root.exists("table=faces/date=unknown/camera=a/part-1.parquet").unwrap());
        assert!(root.has_tables().unwrap());
    }
}
