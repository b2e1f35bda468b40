//! The seven expression classes of FER2013 (and the paper) and the per-face score vector.
//!
//! In: class indices 0–6 as FER2013 numbers them. Out: [`Expression`] names and
//! [`ExpressionScores`], the probability vector that crosses stage boundaries.

use serde::{Deserialize, Serialize};

/// One of the seven basic expressions, numbered as in FER2013's `emotion` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expression {
    /// 0
    Angry,
    /// 1
    Disgust,
    /// 2
    Fear,
    /// 3
    Happy,
    /// 4
    Sad,
    /// 5
    Surprise,
    /// 6
    Neutral,
}

impl Expression {
    /// Number of classes.
    pub const COUNT: usize = 7;
    /// All classes in index order.
    pub const ALL: [Expression; 7] =
        [Expression::Angry, Expression::Disgust, Expression::Fear, Expression::Happy, Expression::Sad, Expression::Surprise, Expression::Neutral];

    /// Class from its FER2013 index.
    pub fn from_index(i: usize) -> Option<Self> {
        Self::ALL.get(i).copied()
    }

    /// FER2013 index of the class.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lower-case name used in tables and column names (`angry`, …, `neutral`).
    pub fn name(self) -> &'static str {
        match self {
            Expression::Angry => "angry",
            Expression::Disgust => "disgust",
            Expression::Fear => "fear",
            Expression::Happy => "happy",
            Expression::Sad => "sad",
            Expression::Surprise => "surprise",
            Expression::Neutral => "neutral",
        }
    }

    /// Parses a lower-case name (also accepts a few common synonyms: `anger`, `sadness`, …).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "angry" | "anger" => Expression::Angry,
            "disgust" | "disgusted" => Expression::Disgust,
            "fear" | "fearful" => Expression::Fear,
            "happy" | "happiness" => Expression::Happy,
            "sad" | "sadness" => Expression::Sad,
            "surprise" | "surprised" => Expression::Surprise,
            "neutral" => Expression::Neutral,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Probabilities of the seven classes for one face; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExpressionScores(pub [f32; Expression::COUNT]);

impl ExpressionScores {
    /// The uniform distribution (used as a neutral starting point for smoothing).
    pub fn uniform() -> Self {
        Self([1.0 / Expression::COUNT as f32; Expression::COUNT])
    }

    /// Softmax of raw logits, computed stably.
    pub fn from_logits(logits: &[f32]) -> Self {
        let mut out = [0.0f32; Expression::COUNT];
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for (o, &l) in out.iter_mut().zip(logits) {
            *o = (l - max).exp();
            sum += *o;
        }
        for o in &mut out {
            *o /= sum;
        }
        Self(out)
    }

    /// The most probable class (the first one on ties).
    pub fn label(&self) -> Expression {
        let mut best = 0;
        for i in 1..Expression::COUNT {
            if self.0[i] > self.0[best] {
                best = i;
            }
        }
        Expression::ALL[best]
    }

    /// Probability of the most probable class.
    pub fn confidence(&self) -> f32 {
        self.0[self.label().index()]
    }

    /// Probability of one class.
    pub fn get(&self, e: Expression) -> f32 {
        self.0[e.index()]
    }

    /// Rescales so the entries sum to 1 (no-op for an all-zero vector).
    pub fn normalized(mut self) -> Self {
        let s: f32 = self.0.iter().sum();
        if s > 0.0 {
            for v in &mut self.0 {
                *v /= s;
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_round_trip_and_match_fer2013() {
        for (i, e) in Expression::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(Expression::from_index(i), Some(*e));
            assert_eq!(Expression::from_name(e.name()), Some(*e));
        }
        assert_eq!(Expression::from_index(7), None);
        assert_eq!(Expression::Happy.index(), 3);
        assert_eq!(Expression::from_name("sadness"), Some(Expression::Sad));
        assert_eq!(Expression::from_name("contempt"), None);
    }

    #[test]
    fn softmax_sums_to_one_and_picks_the_max() {
        let s = ExpressionScores::from_logits(&[1.0, 2.0, 0.5, 9.0, -3.0, 0.0, 1000.0]);
        let sum: f32 = s.0.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        assert_eq!(s.label(), Expression::Neutral);
        let s = ExpressionScores::from_logits(&[0.0; 7]);
        assert!((s.get(Expression::Fear) - 1.0 / 7.0).abs() < 1e-6);
        assert_eq!(s.label(), Expression::Angry, "ties go to the first class");
    }
}
