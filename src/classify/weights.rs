//! Model artifacts: a directory with `config.json` (the [`SldcnnConfig`]) and `model.bpk`
//! (burnpack weights), or one of the networks embedded in the binary ([`EMBEDDED`]).
//!
//! In: what `--model` says: a directory, an embedded network's name, or the name of an
//! ensemble of embedded networks ([`ENSEMBLES`]: `shipped`, the default, and `accurate`).
//! Out: [`ModelArtifact`]s with bytes, config and a stable id (`name@blake3-prefix`) that
//! goes into every output table. Bad files give a [`WeightsError`] naming the file and the
//! problem.

use std::path::{Path, PathBuf};

use super::model::SldcnnConfig;

/// File name of the configuration inside an artifact directory.
pub const CONFIG_FILE: &str = "config.json";
/// File name of the weights inside an artifact directory.
pub const WEIGHTS_FILE: &str = "model.bpk";
/// The networks embedded in the binary, each from `models/<name>/` of the source tree and
/// named so on the command line: the first compact SLDCNN trained here (epoch 56 of its run,
/// the default model until the ensemble), the same run's epoch 92, a student distilled from
/// those two from scratch, and the wide network distilled from four compact ones (model card).
/// `build.rs` lists them too.
pub const EMBEDDED: [&str; 4] = ["sldcnn-fer2013", "sldcnn-fer2013-e92", "sldcnn-fer2013-ba", "sldcnn-fer2013-wide"];

/// What `--model` names to mean the model shipped in the binary, the default: the average of
/// the [`SHIPPED_NETWORKS`].
pub const SHIPPED: &str = "shipped";

/// The embedded networks `shipped` averages (the pair with the best PublicTest accuracy).
pub const SHIPPED_NETWORKS: [&str; 2] = ["sldcnn-fer2013-e92", "sldcnn-fer2013-ba"];

/// What `--model` names for the most accurate choice, at 1.7–1.9× the default's cost per
/// face: the average of the [`ACCURATE_NETWORKS`].
pub const ACCURATE: &str = "accurate";

/// The embedded networks `accurate` averages (the best PublicTest accuracy of the wide network
/// alone and with one or two compact ones).
pub const ACCURATE_NETWORKS: [&str; 2] = ["sldcnn-fer2013-wide", "sldcnn-fer2013-e92"];

/// The names `--model` takes for several embedded networks at once, each with the networks
/// whose probabilities it averages: [`SHIPPED`], the default, and [`ACCURATE`].
pub const ENSEMBLES: [(&str, &[&str]); 2] = [(SHIPPED, &SHIPPED_NETWORKS), (ACCURATE, &ACCURATE_NETWORKS)];

#[cfg(fer_shipped_model)]
macro_rules! embedded {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/", $name, "/config.json")).as_slice(),
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/", $name, "/model.bpk")).as_slice(),
        )
    };
}

/// (name, config.json, model.bpk) of each [`EMBEDDED`] network.
#[cfg(fer_shipped_model)]
const EMBEDDED_FILES: [(&str, &[u8], &[u8]); 4] =
    [embedded!("sldcnn-fer2013"), embedded!("sldcnn-fer2013-e92"), embedded!("sldcnn-fer2013-ba"), embedded!("sldcnn-fer2013-wide")];

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
    /// A name that is not one of the [`EMBEDDED`] networks.
    #[error("no embedded network is called {0:?}; they are: {list}", list = EMBEDDED.join(", "))]
    NotEmbedded(String),
    /// One network was needed and the name means several.
    #[error("{name} is an ensemble of {members}; this needs one network: name one of them, or a model directory")]
    NotOneNetwork {
        /// What was named.
        name: String,
        /// Its networks, comma-separated.
        members: String,
    },
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

    /// The networks `spec` names on the command line: one of the [`ENSEMBLES`] for its
    /// networks, an [`EMBEDDED`] name for that one, anything else a model directory (`./NAME`
    /// reaches a directory that has an embedded network's name).
    pub fn named(spec: &Path) -> Result<Vec<Self>, WeightsError> {
        if let Some((_, networks)) = ENSEMBLES.iter().find(|(name, _)| spec == Path::new(name)) {
            return networks.iter().map(|n| Self::embedded(n)).collect();
        }
        match EMBEDDED.iter().find(|n| spec == Path::new(n)) {
            Some(name) => Self::embedded(name).map(|a| vec![a]),
            None => Self::from_dir(spec).map(|a| vec![a]),
        }
    }

    /// Every network that `specs` name ([`ModelArtifact::named`]), in order.
    pub fn named_all<P: AsRef<Path>>(specs: impl IntoIterator<Item = P>) -> Result<Vec<Self>, WeightsError> {
        let mut networks = Vec::new();
        for spec in specs {
            networks.extend(Self::named(spec.as_ref())?);
        }
        Ok(networks)
    }

    /// The one network `spec` names ([`ModelArtifact::named`]); an ensemble such as
    /// [`SHIPPED`] is an error that lists its networks.
    pub fn one_network(spec: &Path) -> Result<Self, WeightsError> {
        let mut networks = Self::named(spec)?;
        if networks.len() != 1 {
            let members = networks.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ");
            return Err(WeightsError::NotOneNetwork { name: spec.display().to_string(), members });
        }
        Ok(networks.remove(0))
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

    /// The embedded network called `name` (one of [`EMBEDDED`]).
    pub fn embedded(name: &str) -> Result<Self, WeightsError> {
        #[cfg(fer_shipped_model)]
        if let Some((name, config, weights)) = EMBEDDED_FILES.iter().find(|f| f.0 == name) {
            let dir = format!("models/{name}");
            return Self::from_parts(config, weights.to_vec(), format!("embedded:{dir}"), name.to_string(), Path::new(&dir));
        }
        if EMBEDDED.contains(&name) { Err(WeightsError::NoShippedModel) } else { Err(WeightsError::NotEmbedded(name.into())) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_embedded_networks_directories_or_named_ensembles() {
        for (name, networks) in ENSEMBLES {
            let members = ModelArtifact::named(Path::new(name)).unwrap();
            assert_eq!(members.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), networks, "{name}");
            assert!(networks.iter().all(|n| EMBEDDED.contains(n)), "{name}");
        }
        let shipped = ModelArtifact::named(Path::new(SHIPPED)).unwrap();
        assert_eq!(shipped.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), SHIPPED_NETWORKS);
        assert!(shipped.iter().all(|a| a.source == format!("embedded:models/{}", a.name)));
        let all: Vec<ModelArtifact> = EMBEDDED.iter().map(|n| ModelArtifact::one_network(Path::new(n)).unwrap()).collect();
        let mut hashes: Vec<&str> = all.iter().map(|a| a.hash.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), EMBEDDED.len(), "different networks");
        assert!(all.iter().all(|a| a.config.input_size == all[0].config.input_size), "the same input size, so any of them average");
        assert_eq!(shipped[1].id(), ModelArtifact::embedded(SHIPPED_NETWORKS[1]).unwrap().id());

        let err = ModelArtifact::one_network(Path::new(SHIPPED)).unwrap_err().to_string();
        assert!(err.contains(&format!("{SHIPPED} is an ensemble of {}, {}", SHIPPED_NETWORKS[0], SHIPPED_NETWORKS[1])), "{err}");

        // A directory, also one that has an embedded network's name when written as a path.
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(EMBEDDED[0]);
        ModelArtifact::write_dir(&all[0].config, &all[0].weights, &copy).unwrap();
        let from_dir = ModelArtifact::one_network(&copy).unwrap();
        assert_eq!((from_dir.name.as_str(), from_dir.source.as_str()), (EMBEDDED[0], copy.to_str().unwrap()));
        let missing = ModelArtifact::named(&dir.path().join("nothing")).unwrap_err().to_string();
        assert!(missing.contains("cannot read model file") && missing.contains("nothing"), "{missing}");
        let dotted = ModelArtifact::named(Path::new("./sldcnn-fer2013")).unwrap_err().to_string();
        assert!(dotted.contains("cannot read model file ./sldcnn-fer2013/"), "./NAME is a directory: {dotted}");
        let unknown = ModelArtifact::embedded("sldcnn").unwrap_err().to_string();
        assert!(unknown.contains(r#"no embedded network is called "sldcnn"; they are: sldcnn-fer2013, "#), "{unknown}");
    }
}
