//! Labelled 48×48 face datasets for training and evaluation: FER2013 (Kaggle CSV), CK+48 and
//! FER+ majority labels.
//!
//! In: CSV files, plain or gzip-compressed (`.gz`). Out: a [`Dataset`] of grey images
//! (`side × side` bytes, row-major) with class labels and, where the file has them, subject ids.
//! Malformed rows are errors that name the file, the line and the problem; nothing is skipped
//! silently.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::classify::labels::Expression;

/// Errors from reading a dataset file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The header is not the expected one.
    #[error("{path}: expected header {expected:?}, found {found:?}")]
    Header {
        /// File.
        path: PathBuf,
        /// Expected header.
        expected: String,
        /// Header found.
        found: String,
    },
    /// A data row is malformed.
    #[error("{path}:{line}: {reason}")]
    Row {
        /// File.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The requested split has no rows.
    #[error("{path}: no rows for split {split}")]
    EmptySplit {
        /// File.
        path: PathBuf,
        /// Split asked for.
        split: String,
    },
}

/// FER2013's `Usage` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// `Training` (28,709 rows).
    Training,
    /// `PublicTest` (3,589 rows), used for validation.
    PublicTest,
    /// `PrivateTest` (3,589 rows), the reported test set.
    PrivateTest,
}

impl Split {
    /// Parses the CSV's `Usage` value or a CLI name (case-insensitive; `train`, `val`, `test`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "training" | "train" => Some(Split::Training),
            "publictest" | "public" | "val" | "valid" | "validation" => Some(Split::PublicTest),
            "privatetest" | "private" | "test" => Some(Split::PrivateTest),
            _ => None,
        }
    }

    /// The name as written in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Split::Training => "Training",
            Split::PublicTest => "PublicTest",
            Split::PrivateTest => "PrivateTest",
        }
    }
}

/// A set of square grey images with labels.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Side of each image in pixels.
    pub side: usize,
    /// All pixels, image after image (`len() * side * side` bytes).
    pub pixels: Vec<u8>,
    /// Class of each image.
    pub labels: Vec<Expression>,
    /// Subject of each image where known (CK+), used for subject-wise folds.
    pub subjects: Vec<Option<String>>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.side * self.side;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Images per class, in class index order.
    pub fn class_counts(&self) -> [usize; Expression::COUNT] {
        let mut c = [0; Expression::COUNT];
        for l in &self.labels {
            c[l.index()] += 1;
        }
        c
    }

    /// A new dataset with the images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut out = Dataset { side: self.side, ..Default::default() };
        for &i in indices {
            out.pixels.extend_from_slice(self.image(i));
            out.labels.push(self.labels[i]);
            out.subjects.push(self.subjects[i].clone());
        }
        out
    }

    /// Indices of the images that have no exact pixel copy in `reference`, in order. Used to
    /// de-duplicate a test split against the training split (FER2013's PrivateTest has about
    /// 290 rows whose 2,304 bytes equal some Training row's). Images of another side than
    /// `reference`'s are never copies.
    pub fn indices_without_copies_in(&self, reference: &Dataset) -> Vec<usize> {
        let seen: std::collections::HashSet<&[u8]> =
            if reference.side == self.side { (0..reference.len()).map(|i| reference.image(i)).collect() } else { Default::default() };
        (0..self.len()).filter(|&i| !seen.contains(self.image(i))).collect()
    }

    fn push(&mut self, pixels: &[u8], label: Expression, subject: Option<String>) {
        self.pixels.extend_from_slice(pixels);
        self.labels.push(label);
        self.subjects.push(subject);
    }
}

fn open_text(path: &Path) -> Result<Box<dyn BufRead>, DatasetError> {
    let io = |source| DatasetError::Io { path: path.to_path_buf(), source };
    let file = File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
    Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
}

/// A CSV file read line by line after checking its header.
struct CsvLines {
    path: PathBuf,
    reader: Box<dyn BufRead>,
    line: String,
    lineno: usize,
}

impl CsvLines {
    fn open(path: &Path, expected_header: &str) -> Result<Self, DatasetError> {
        let mut this = Self { path: path.to_path_buf(), reader: open_text(path)?, line: String::new(), lineno: 0 };
        let found = this.next_line()?.map(|(_, l)| l.to_owned()).unwrap_or_default();
        if found != expected_header {
            return Err(DatasetError::Header { path: path.into(), expected: expected_header.into(), found: found.chars().take(80).collect() });
        }
        Ok(this)
    }

    /// The next line without its line ending, with its 1-based number; None at the end.
    fn next_line(&mut self) -> Result<Option<(usize, &str)>, DatasetError> {
        self.line.clear();
        let n = self.reader.read_line(&mut self.line).map_err(|source| DatasetError::Io { path: self.path.clone(), source })?;
        if n == 0 {
            return Ok(None);
        }
        self.lineno += 1;
        Ok(Some((self.lineno, self.line.trim_end_matches(['\n', '\r']))))
    }
}

fn parse_pixels(field: &str, side: usize, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    for tok in field.split_ascii_whitespace() {
        let v: u16 = tok.parse().map_err(|_| format!("pixel value {tok:?} is not an integer"))?;
        if v > 255 {
            return Err(format!("pixel value {v} is out of range 0..=255"));
        }
        out.push(v as u8);
    }
    if out.len() != side * side {
        return Err(format!("expected {} pixel values ({side}×{side}), found {}", side * side, out.len()));
    }
    Ok(())
}

/// Reads the standard FER2013 CSV (`emotion,pixels,Usage`), keeping the rows of `splits`
/// (all rows when `splits` is empty). Rows keep their file order.
pub fn load_fer2013(path: &Path, splits: &[Split]) -> Result<BTreeMap<Split, Dataset>, DatasetError> {
    load_fer2013_with_labels(path, splits, None)
}

/// Like [`load_fer2013`], but with labels replaced by `labels[row]` where given (FER+
/// majority labels; rows mapped to `None` are dropped, as FER+ does for unknown/not-a-face).
pub fn load_fer2013_with_labels(path: &Path, splits: &[Split], labels: Option<&[Option<Expression>]>) -> Result<BTreeMap<Split, Dataset>, DatasetError> {
    let mut lines = CsvLines::open(path, "emotion,pixels,Usage")?;
    let mut out: BTreeMap<Split, Dataset> = BTreeMap::new();
    let mut px = Vec::with_capacity(2304);
    let mut row = 0usize;
    while let Some((lineno, text)) = lines.next_line()? {
        let bad = |reason: String| DatasetError::Row { path: path.into(), line: lineno, reason };
        if text.is_empty() {
            return Err(bad("empty line".into()));
        }
        let mut fields = text.splitn(3, ',');
        let (Some(emotion), Some(pixels), Some(usage)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(bad("expected 3 comma-separated fields: emotion,pixels,Usage".into()));
        };
        let label = emotion
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(Expression::from_index)
            .ok_or_else(|| bad(format!("emotion {emotion:?} is not a class index 0–6")))?;
        let split = Split::parse(usage).ok_or_else(|| bad(format!("unknown Usage {usage:?}")))?;
        let this_row = row;
        row += 1;
        if !splits.is_empty() && !splits.contains(&split) {
            continue;
        }
        parse_pixels(pixels, 48, &mut px).map_err(bad)?;
        let label = match labels {
            Some(l) => match l.get(this_row) {
                Some(Some(e)) => *e,
                Some(None) => continue,
                None => return Err(bad("no FER+ label for this row (label file too short)".into())),
            },
            None => label,
        };
        out.entry(split).or_insert_with(|| Dataset { side: 48, ..Default::default() }).push(&px, label, None);
    }
    for s in splits {
        if !out.contains_key(s) {
            return Err(DatasetError::EmptySplit { path: path.into(), split: s.name().into() });
        }
    }
    Ok(out)
}

/// Reads FER+ votes (`fer2013new.csv`) and returns, per FER2013 row, the majority class among
/// the seven FER2013 classes, or `None` where the majority is contempt, unknown or not-a-face
/// or there is a tie for the top vote.
pub fn load_ferplus_majority(path: &Path) -> Result<Vec<Option<Expression>>, DatasetError> {
    let expected = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF";
    let mut lines = CsvLines::open(path, expected)?;
    // FER+ vote columns in file order, mapped to FER2013 classes (None: not one of the 7).
    let map = [
        Some(Expression::Neutral),
        Some(Expression::Happy),
        Some(Expression::Surprise),
        Some(Expression::Sad),
        Some(Expression::Angry),
        Some(Expression::Disgust),
        Some(Expression::Fear),
        None,
        None,
        None,
    ];
    let mut out = Vec::new();
    while let Some((lineno, line)) = lines.next_line()? {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 12 {
            return Err(DatasetError::Row { path: path.into(), line: lineno, reason: format!("expected 12 fields, found {}", fields.len()) });
        }
        let mut votes = [0u32; 10];
        for (v, f) in votes.iter_mut().zip(&fields[2..]) {
            *v = f.trim().parse().map_err(|_| DatasetError::Row { path: path.into(), line: lineno, reason: format!("vote {f:?} is not an integer") })?;
        }
        let max = *votes.iter().max().unwrap_or(&0);
        let winners: Vec<usize> = (0..10).filter(|&i| votes[i] == max).collect();
        out.push(if max > 0 && winners.len() == 1 { map[winners[0]] } else { None });
    }
    Ok(out)
}

/// Reads CK+48 (`label,file,pixels`; labels are folder names such as `anger`, `contempt`).
/// Rows labelled `contempt` (not a FER2013 class) are dropped; any other unknown label is an
/// error. The subject id is the
/// file name's first part (`S010_004_00000017.png` → `S010`).
pub fn load_ckplus(path: &Path) -> Result<Dataset, DatasetError> {
    let mut lines = CsvLines::open(path, "label,file,pixels")?;
    let mut out = Dataset { side: 48, ..Default::default() };
    let mut px = Vec::new();
    while let Some((lineno, line)) = lines.next_line()? {
        let bad = |reason: String| DatasetError::Row { path: path.into(), line: lineno, reason };
        let mut f = line.splitn(3, ',');
        let (Some(label), Some(file), Some(pixels)) = (f.next(), f.next(), f.next()) else {
            return Err(bad("expected 3 fields: label,file,pixels".into()));
        };
        parse_pixels(pixels, 48, &mut px).map_err(bad)?;
        if label == "contempt" {
            continue;
        }
        let e = Expression::from_name(label).ok_or_else(|| bad(format!("unknown label {label:?}")))?;
        let subject = file.split('_').next().filter(|s| !s.is_empty()).map(str::to_owned);
        if subject.is_none() {
            return Err(bad(format!("cannot read a subject id from file name {file:?}")));
        }
        out.push(&px, e, subject);
    }
    Ok(out)
}

/// Splits image indices into `k` folds so that no subject is in two folds (subjects are
/// dealt round-robin in sorted order, which balances fold sizes well enough for CK+).
pub fn subject_folds(ds: &Dataset, k: usize) -> Vec<Vec<usize>> {
    let mut by_subject: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in ds.subjects.iter().enumerate() {
        by_subject.entry(s.as_deref().unwrap_or("")).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by_subject.into_values().collect();
    // Largest subjects first, each to the currently smallest fold.
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let mut folds = vec![Vec::new(); k.max(1)];
    for g in groups {
        let smallest = (0..folds.len()).min_by_key(|&f| folds[f].len()).unwrap_or(0);
        folds[smallest].extend(g);
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    folds
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let p = dir.path().join(name);
        std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
        p
    }

    fn px(v: u8) -> String {
        vec![v.to_string(); 2304].join(" ")
    }

    #[test]
    fn reads_splits_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("emotion,pixels,Usage\n3,{},Training\n0,{},PublicTest\n6,{},Training\n", px(1), px(2), px(3));
        let p = write(&dir, "f.csv", &text);
        let all = load_fer2013(&p, &[]).unwrap();
        let train = &all[&Split::Training];
        assert_eq!(train.len(), 2);
        assert_eq!(train.labels, vec![Expression::Happy, Expression::Neutral]);
        assert_eq!(train.image(1)[0], 3);
        assert_eq!(all[&Split::PublicTest].labels, vec![Expression::Angry]);
        let err = load_fer2013(&p, &[Split::PrivateTest]).unwrap_err().to_string();
        assert!(err.contains("no rows for split PrivateTest"), "{err}");
    }

    #[test]
    fn copies_of_reference_images_are_found_exactly() {
        let image = |v: u8, at: usize| {
            let mut p = vec![v; 16];
            p[at] = v.wrapping_add(1);
            p
        };
        let mut train = Dataset { side: 4, ..Default::default() };
        for (v, at) in [(1, 0), (2, 5), (3, 15)] {
            train.push(&image(v, at), Expression::Happy, None);
        }
        let mut test = Dataset { side: 4, ..Default::default() };
        // A copy (other label: labels do not matter), a one-pixel difference, another copy,
        // a repeat of the first, and an image not in the reference at all.
        for (v, at) in [(2, 5), (2, 6), (3, 15), (2, 5), (9, 9)] {
            test.push(&image(v, at), Expression::Sad, None);
        }
        assert_eq!(test.indices_without_copies_in(&train), vec![1, 4]);
        assert_eq!(test.indices_without_copies_in(&Dataset::default()), vec![0, 1, 2, 3, 4]);
        let kept = test.subset(&test.indices_without_copies_in(&train));
        assert_eq!((kept.len(), kept.image(1)[9]), (2, 10));
    }

    #[test]
    fn gzip_is_read_transparently() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
        write!(gz, "emotion,pixels,Usage\n5,{},PrivateTest\n", px(9)).unwrap();
        gz.finish().unwrap();
        let all = load_fer2013(&p, &[Split::PrivateTest]).unwrap();
        assert_eq!(all[&Split::PrivateTest].labels, vec![Expression::Surprise]);
    }

    #[test]
    fn malformed_rows_name_the_line_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (format!("9,{},Training\n", px(1)), "not a class index"),
            (format!("1,{} 4,Training\n", px(1)), "expected 2304 pixel values"),
            ("1,1 2 3,Training\n".to_string(), "expected 2304 pixel values"),
            (format!("1,{},Nope\n", px(1)), "unknown Usage"),
            ("1\n".to_string(), "expected 3 comma-separated fields"),
            (format!("1,{} 300,Training\n", vec!["0"; 2303].join(" ")), "out of range"),
            (format!("1,{} x,Training\n", vec!["0"; 2303].join(" ")), "not an integer"),
        ];
        for (row, want) in cases {
            let p = write(&dir, "bad.csv", &format!("emotion,pixels,Usage\n0,{},Training\n{row}", px(0)));
            let err = load_fer2013(&p, &[]).unwrap_err().to_string();
            assert!(err.contains(":3:") && err.contains(want), "{err} (wanted {want})");
        }
        let p = write(&dir, "hdr.csv", "label,pixels\n");
        assert!(load_fer2013(&p, &[]).unwrap_err().to_string().contains("expected header"));
        let missing = load_fer2013(Path::new("/nonexistent/fer.csv"), &[]).unwrap_err().to_string();
        assert!(missing.contains("/nonexistent/fer.csv"), "{missing}");
    }

    #[test]
    fn ferplus_majority_maps_columns_and_drops_ties_and_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "fp.csv",
            "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n\
             Training,a,0,10,0,0,0,0,0,0,0,0\n\
             Training,b,5,5,0,0,0,0,0,0,0,0\n\
             Training,c,0,0,0,0,0,0,0,0,0,10\n\
             Training,d,1,0,0,0,6,0,3,0,0,0\n",
        );
        let l = load_ferplus_majority(&p).unwrap();
        assert_eq!(l, vec![Some(Expression::Happy), None, None, Some(Expression::Angry)]);
    }

    #[test]
    fn ckplus_drops_contempt_and_folds_keep_subjects_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("label,file,pixels\n");
        for (i, l) in ["anger", "happy", "contempt", "surprise", "sadness", "fear"].iter().enumerate() {
            for j in 0..2 {
                text.push_str(&format!("{l},S{:03}_00{j}_0001.png,{}\n", i % 4, px(i as u8)));
            }
        }
        let p = write(&dir, "ck.csv", &text);
        let ds = load_ckplus(&p).unwrap();
        assert_eq!(ds.len(), 10);
        let folds = subject_folds(&ds, 3);
        let mut seen = std::collections::HashMap::new();
        for (f, idx) in folds.iter().enumerate() {
            for &i in idx {
                let s = ds.subjects[i].clone().unwrap();
                assert_eq!(*seen.entry(s).or_insert(f), f, "a subject spans two folds");
            }
        }
        assert_eq!(folds.iter().map(Vec::len).sum::<usize>(), 10);
    }
}
