//! `fer-batch eval`: accuracy and macro-F1 with 95% intervals, per-class precision/recall and
//! the confusion matrix of a classifier on a labelled [`Dataset`]; McNemar's test between two.
//!
//! In: a [`Classifier`] and a dataset (or true and predicted labels). Out: an [`EvalReport`]
//! (serialisable to JSON and printable as a table). Intervals: Wilson for accuracy, a
//! fixed-seed percentile bootstrap for macro-F1 ([`stats`]); the same predictions always give
//! the same report.

pub mod stats;

use serde::Serialize;

use crate::classify::{Classifier, ClassifyError, Expression};
use crate::dataset::Dataset;

/// Per-class precision, recall and F1.
#[derive(Debug, Clone, Serialize)]
pub struct ClassMetrics {
    /// Class name.
    pub class: String,
    /// Images of this class in the set.
    pub support: usize,
    /// TP / (TP + FP); 0 when nothing was predicted as this class.
    pub precision: f32,
    /// TP / (TP + FN); 0 when the class has no images.
    pub recall: f32,
    /// Harmonic mean of precision and recall.
    pub f1: f32,
}

/// Bootstrap replicates behind [`EvalReport::macro_f1_ci95`].
pub const BOOTSTRAP_REPLICATES: usize = 1000;

/// Seed of the bootstrap generator (fixed: a report is a function of its predictions).
pub const BOOTSTRAP_SEED: u64 = 0x5EED;

/// Evaluation result.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Fraction classified correctly.
    pub accuracy: f32,
    /// 95% Wilson score interval of the accuracy, `[low, high]`.
    pub accuracy_ci95: [f32; 2],
    /// Unweighted mean of the per-class F1 over classes with support.
    pub macro_f1: f32,
    /// 95% percentile-bootstrap interval of the macro-F1 ([`BOOTSTRAP_REPLICATES`] resamples of
    /// the images, seed [`BOOTSTRAP_SEED`]), `[low, high]`.
    pub macro_f1_ci95: [f32; 2],
    /// Per-class metrics in class index order.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

impl EvalReport {
    /// Builds the report from (true, predicted) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Expression, Expression)>) -> Self {
        let pairs: Vec<(usize, usize)> = pairs.into_iter().map(|(t, p)| (t.index(), p.index())).collect();
        let confusion = confusion_of(pairs.iter().copied());
        let n = pairs.len();
        let k = Expression::COUNT;
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let per_class = Expression::ALL
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (precision, recall, f1) = class_scores(&confusion, i);
                ClassMetrics { class: e.name().into(), support: confusion[i].iter().sum(), precision, recall, f1 }
            })
            .collect();
        let (acc_lo, acc_hi) = stats::wilson_interval(correct, n, stats::Z95);
        let (f1_lo, f1_hi) = stats::bootstrap_interval95(n, BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, |sample| {
            f64::from(macro_f1_of(&confusion_of(sample.iter().map(|&i| pairs[i]))))
        });
        EvalReport {
            images: n,
            accuracy: if n > 0 { correct as f32 / n as f32 } else { 0.0 },
            accuracy_ci95: [acc_lo as f32, acc_hi as f32],
            macro_f1: macro_f1_of(&confusion),
            macro_f1_ci95: [f1_lo as f32, f1_hi as f32],
            per_class,
            confusion,
        }
    }

    /// The images, accuracy and macro-F1 lines with their intervals.
    pub fn summary(&self) -> String {
        format!(
            "images: {}\naccuracy: {:.2}% (95% CI {:.2}–{:.2}%, Wilson)\nmacro-F1: {:.4} (95% CI {:.4}–{:.4}, bootstrap)\n",
            self.images,
            self.accuracy * 100.0,
            self.accuracy_ci95[0] * 100.0,
            self.accuracy_ci95[1] * 100.0,
            self.macro_f1,
            self.macro_f1_ci95[0],
            self.macro_f1_ci95[1],
        )
    }

    /// Human-readable table.
    pub fn to_table(&self) -> String {
        let mut s = self.summary();
        s += &format!("\n{:<10} {:>8} {:>9} {:>7} {:>7}\n", "class", "support", "precision", "recall", "f1");
        for c in &self.per_class {
            s += &format!("{:<10} {:>8} {:>9.3} {:>7.3} {:>7.3}\n", c.class, c.support, c.precision, c.recall, c.f1);
        }
        s += "\nconfusion (rows: true, columns: predicted)\n          ";
        for e in Expression::ALL {
            s += &format!("{:>9}", e.name());
        }
        s += "\n";
        for (i, row) in self.confusion.iter().enumerate() {
            s += &format!("{:<10}", Expression::ALL[i].name());
            for v in row {
                s += &format!("{v:>9}");
            }
            s += "\n";
        }
        s
    }
}

/// `confusion[true][predicted]` counts of class-index pairs.
fn confusion_of(pairs: impl Iterator<Item = (usize, usize)>) -> Vec<Vec<usize>> {
    let k = Expression::COUNT;
    let mut confusion = vec![vec![0usize; k]; k];
    for (t, p) in pairs {
        confusion[t][p] += 1;
    }
    confusion
}

/// Precision, recall and F1 of class `i` (each 0 where undefined).
fn class_scores(confusion: &[Vec<usize>], i: usize) -> (f32, f32, f32) {
    let tp = confusion[i][i] as f32;
    let support: usize = confusion[i].iter().sum();
    let predicted: usize = confusion.iter().map(|row| row[i]).sum();
    let precision = if predicted > 0 { tp / predicted as f32 } else { 0.0 };
    let recall = if support > 0 { tp / support as f32 } else { 0.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    (precision, recall, f1)
}

/// Unweighted mean of the per-class F1 over the classes with support (0 with none).
fn macro_f1_of(confusion: &[Vec<usize>]) -> f32 {
    let with_support: Vec<usize> = (0..confusion.len()).filter(|&i| confusion[i].iter().sum::<usize>() > 0).collect();
    if with_support.is_empty() {
        return 0.0;
    }
    with_support.iter().map(|&i| class_scores(confusion, i).2).sum::<f32>() / with_support.len() as f32
}

/// The predicted class of every image of `ds`, in order.
pub fn predict(classifier: &Classifier, ds: &Dataset, batch_size: usize) -> Result<Vec<Expression>, ClassifyError> {
    let crops: Vec<&[u8]> = (0..ds.len()).map(|i| ds.image(i)).collect();
    Ok(classifier.classify(&crops, batch_size)?.iter().map(|s| s.label()).collect())
}

/// Classifies every image of `ds` and compares with its labels.
pub fn evaluate(classifier: &Classifier, ds: &Dataset, batch_size: usize) -> Result<EvalReport, ClassifyError> {
    let predicted = predict(classifier, ds, batch_size)?;
    Ok(EvalReport::from_pairs(ds.labels.iter().copied().zip(predicted)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Expression::*;

    #[test]
    fn metrics_match_a_hand_computed_confusion_matrix() {
        // happy: 3 images, 2 right, 1 → sad; sad: 2 images, 1 right, 1 → happy; angry: 1 → sad.
        let r = EvalReport::from_pairs([(Happy, Happy), (Happy, Happy), (Happy, Sad), (Sad, Sad), (Sad, Happy), (Angry, Sad)]);
        assert_eq!(r.images, 6);
        assert!((r.accuracy - 0.5).abs() < 1e-6);
        let happy = &r.per_class[Happy.index()];
        assert!((happy.precision - 2.0 / 3.0).abs() < 1e-6 && (happy.recall - 2.0 / 3.0).abs() < 1e-6);
        let sad = &r.per_class[Sad.index()];
        assert!((sad.precision - 1.0 / 3.0).abs() < 1e-6 && (sad.recall - 0.5).abs() < 1e-6);
        let sad_f1 = 2.0 * (1.0 / 3.0) * 0.5 / (1.0 / 3.0 + 0.5);
        // Macro-F1 over the three classes with support: happy 2/3, sad 0.4, angry 0.
        assert!((r.macro_f1 - (2.0 / 3.0 + sad_f1 + 0.0) / 3.0).abs() < 1e-6);
        assert_eq!(r.confusion[Angry.index()][Sad.index()], 1);
        assert!(r.to_table().contains("accuracy: 50.00% (95% CI"), "{}", r.to_table());
        // Wilson for 3 of 6; the bootstrap interval brackets the point estimate.
        let (lo, hi) = stats::wilson_interval(3, 6, stats::Z95);
        assert_eq!(r.accuracy_ci95, [lo as f32, hi as f32]);
        assert!(r.macro_f1_ci95[0] <= r.macro_f1 && r.macro_f1 <= r.macro_f1_ci95[1], "{:?} vs {}", r.macro_f1_ci95, r.macro_f1);
    }

    #[test]
    fn intervals_narrow_with_more_images_and_are_reproducible() {
        let pairs = |n: usize| (0..n).map(|i| (Expression::ALL[i % 7], if i % 3 == 0 { Expression::ALL[(i + 1) % 7] } else { Expression::ALL[i % 7] }));
        let small = EvalReport::from_pairs(pairs(140));
        let large = EvalReport::from_pairs(pairs(3500));
        let width = |r: &EvalReport| (r.accuracy_ci95[1] - r.accuracy_ci95[0], r.macro_f1_ci95[1] - r.macro_f1_ci95[0]);
        assert!(width(&large).0 < width(&small).0 / 3.0 && width(&large).1 < width(&small).1 / 3.0, "{:?} vs {:?}", width(&large), width(&small));
        assert_eq!(EvalReport::from_pairs(pairs(140)).macro_f1_ci95, small.macro_f1_ci95);
        assert_eq!(EvalReport::from_pairs(std::iter::empty()).images, 0);
    }
}
