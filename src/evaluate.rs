//! `fer-batch eval`: accuracy, macro-F1, per-class precision/recall and the confusion matrix
//! of a classifier on a labelled [`Dataset`].
//!
//! In: a [`Classifier`] and a dataset. Out: an [`EvalReport`] (serialisable to JSON and
//! printable as a table).

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

/// Evaluation result.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Fraction classified correctly.
    pub accuracy: f32,
    /// Unweighted mean of the per-class F1 over classes with support.
    pub macro_f1: f32,
    /// Per-class metrics in class index order.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

impl EvalReport {
    /// Builds the report from (true, predicted) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Expression, Expression)>) -> Self {
        let k = Expression::COUNT;
        let mut confusion = vec![vec![0usize; k]; k];
        let mut n = 0;
        for (t, p) in pairs {
            confusion[t.index()][p.index()] += 1;
            n += 1;
        }
        let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
        let mut per_class = Vec::new();
        let mut f1_sum = 0.0;
        let mut f1_n = 0;
        for (i, e) in Expression::ALL.iter().enumerate() {
            let tp = confusion[i][i] as f32;
            let support: usize = confusion[i].iter().sum();
            let predicted: usize = (0..k).map(|r| confusion[r][i]).sum();
            let precision = if predicted > 0 { tp / predicted as f32 } else { 0.0 };
            let recall = if support > 0 { tp / support as f32 } else { 0.0 };
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            if support > 0 {
                f1_sum += f1;
                f1_n += 1;
            }
            per_class.push(ClassMetrics { class: e.name().into(), support, precision, recall, f1 });
        }
        EvalReport {
            images: n,
            accuracy: if n > 0 { correct as f32 / n as f32 } else { 0.0 },
            macro_f1: if f1_n > 0 { f1_sum / f1_n as f32 } else { 0.0 },
            per_class,
            confusion,
        }
    }

    /// Human-readable table.
    pub fn to_table(&self) -> String {
        let mut s = format!(
            "images: {}\naccuracy: {:.2}%\nmacro-F1: {:.4}\n\n{:<10} {:>8} {:>9} {:>7} {:>7}\n",
            self.images,
            self.accuracy * 100.0,
            self.macro_f1,
            "class",
            "support",
            "precision",
            "recall",
            "f1"
        );
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

/// Classifies every image of `ds` and compares with its labels.
pub fn evaluate(classifier: &Classifier, ds: &Dataset, batch_size: usize) -> Result<EvalReport, ClassifyError> {
    let crops: Vec<&[u8]> = (0..ds.len()).map(|i| ds.image(i)).collect();
    let scores = classifier.classify(&crops, batch_size)?;
    Ok(EvalReport::from_pairs(ds.labels.iter().copied().zip(scores.iter().map(|s| s.label()))))
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
        assert!(r.to_table().contains("accuracy: 50.00%"));
    }
}
