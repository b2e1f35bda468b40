//! Model artifacts: a directory with `config.json` (the [`SldcnnConfig`]) and `model.bpk`
//! (burnpack weights), or the copy of the shipped artifact embedded in the binary.
//!
//! In: a path or nothing (the shipped model). Out: a [`ModelArtifact`] with bytes, config and
//! a stable id (`name@blake3-prefix`) that goes into every output table. Bad files give a
//! [`WeightsError`] naming the file and the problem.

use std::path::{Path, PathBuf};

use super::model::SldcnnConfig;

/// File name of the configuration inside an artifact directory.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the weights inside an artifact directory.
pub const WEIGHTS_FILE: &str = "model.bpk";
/// Directory of the shipped model, relative to the repository root.
pub const SHIPPED_DIR: &str = "models/sldcnn-fer2013";

/// Errors loading a model artifact.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// A file of the artifact could not be read.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// `config.json` is not a valid network configuration.
    #[error("invalid model config {path}: {reason}")]
    Config {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The weights file is corrupt or does not fit the configuration.
    #[error("model weights {path} are unusable: {reason}")]
    Weights {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No trained model is embedded in this build and none was given.
    #[error("this build has no shipped model; pass --model DIR (a directory with {CONFIG_FILE} and {WEIGHTS_FILE})")]
    NoShippedModel,
}

/// A model's configuration and serialized weights, not yet on a device.
#[derive(Debug, Clone)]
pub struct ModelArtifact {
    /// Network configuration.
    pub config: SldcnnConfig,
    /// Burnpack bytes.
    pub weights: Vec<u8>,
    /// Where it came from (a directory path or `embedded:<dir>`).
    pub source: String,
    /// Short name (directory name).
    pub name: String,
    /// blake3 of config and weights, hex.
    pub hash: String,
}

impl ModelArtifact {
    /// Stable id for output metadata: `name@` + the first 12 hex digits of the hash.
    pub fn id(&self) -> String {
        format!("{}@{}", self.name, &self.hash[..12])
    }

    /// The model in `dir` (`--model DIR`), or else the one shipped in the binary.
    pub fn load(dir: Option<&Path>) -> Result<Self, WeightsError> {
        match dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::shipped(),
        }
    }

    /// The model `spec` names on the command line: [`super::SHIPPED`] for the one shipped in
    /// the binary, anything else a model directory.
    pub fn named(spec: &Path) -> Result<Self, WeightsError> {
        Self::load(Some(spec).filter(|p| *p != Path::new(super::SHIPPED)))
    }

    /// Reads an artifact directory.
    pub fn from_dir(dir: &Path) -> Result<Self, WeightsError> {
        let cfg_path = dir.join(CONFIG_FILE);
        let w_path = dir.join(WEIGHTS_FILE);
        let config_text = std::fs::read(&cfg_path).map_err(|source| WeightsError::Io { path: cfg_path.clone(), source })?;
        let weights = std::fs::read(&w_path).map_err(|source| WeightsError::Io { path: w_path.clone(), source })?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        Self::from_parts(&config_text, weights, dir.display().to_string(), name, &cfg_path)
    }

    /// The model shipped with this build (embedded at compile time), if there is one.
    pub fn shipped() -> Result<Self, WeightsError> {
        #[cfg(fer_shipped_model)]
        {
            let config = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/sldcnn-fer2013/config.json"));
            let weights = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/sldcnn-fer2013/model.bpk"));
            Self::from_parts(config, weights.to_vec(), format!("embedded:{SHIPPED_DIR}"), "sldcnn-fer2013".into(), Path::new(SHIPPED_DIR))
        }
        #[cfg(not(fer_shipped_model))]
        {
            Err(WeightsError::NoShippedModel)
        }
    }

    fn from_parts(config_text: &[u8], weights: Vec<u8>, source: String, name: String, cfg_path: &Path) -> Result<Self, WeightsError> {
        let config: SldcnnConfig = serde_json::from_slice(config_text).map_err(|e| WeightsError::Config { path: cfg_path.into(), reason: e.to_string() })?;
        config.validate().map_err(|reason| WeightsError::Config { path: cfg_path.into(), reason })?;
        let mut h = blake3::Hasher::new();
        h.update(config_text);
        h.update(&weights);
        Ok(Self { config, weights, source, name, hash: h.finalize().to_hex().to_string() })
    }

    /// Writes `config.json` and `model.bpk` into `dir` (created if needed), each atomically.
    pub fn write_dir(config: &SldcnnConfig, weights: &[u8], dir: &Path) -> Result<(), WeightsError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WeightsError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let cfg = serde_json::to_vec_pretty(config).map_err(|e| WeightsError::Config { path: dir.join(CONFIG_FILE), reason: e.to_string() })?;
        for (name, bytes) in [(CONFIG_FILE, cfg.as_slice()), (WEIGHTS_FILE, weights)] {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io(&path))?;
        }
        Ok(())
    }
}
