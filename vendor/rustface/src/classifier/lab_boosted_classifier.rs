// This file is part of the open-source port of SeetaFace engine, which originally includes three modules:
//      SeetaFace Detection, SeetaFace Alignment, and SeetaFace Identification.
//
// This file is part of the SeetaFace Detection module, containing codes implementing the face detection method described in the following paper:
//
//      Funnel-structured cascade for multi-view face detection with alignment awareness,
//      Shuzhe Wu, Meina Kan, Zhenliang He, Shiguang Shan, Xilin Chen.
//      In Neurocomputing (under review)
//
// Copyright (C) 2016, Visual Information Processing and Learning (VIPL) group,
// Institute of Computing Technology, Chinese Academy of Sciences, Beijing, China.
//
// As an open-source face recognition engine: you can redistribute SeetaFace source codes
// and/or modify it under the terms of the BSD 2-Clause License.
//
// You should have received a copy of the BSD 2-Clause License along with the software.
// If not, see < https://opensource.org/licenses/BSD-2-Clause>.

use super::Score;
use crate::feat::LabBoostedFeatureMap;
use crate::Rectangle;

#[derive(Clone)]
pub struct LabBoostedClassifier {
    features: Vec<(i32, i32)>,
    base_classifiers: Vec<BaseClassifier>,
    /// fer-batch patch: every base classifier's weight table, concatenated (`weight_stride` each),
    /// so that scoring a window reads one contiguous array instead of one heap block per feature.
    flat_weights: Vec<f32>,
    weight_stride: usize,
}

#[derive(Clone)]
struct BaseClassifier {
    weights: Vec<f32>,
    thresh: f32,
}

impl LabBoostedClassifier {
    #[inline]
    pub fn new() -> Self {
        LabBoostedClassifier {
            features: Vec::new(),
            base_classifiers: Vec::new(),
            flat_weights: Vec::new(),
            weight_stride: 0,
        }
    }

    #[inline]
    pub fn add_feature(&mut self, x: i32, y: i32) {
        self.features.push((x, y));
    }

    #[inline]
    pub fn add_base_classifier(&mut self, weights: Vec<f32>, thresh: f32) {
        if self.base_classifiers.is_empty() {
            self.weight_stride = weights.len();
        }
        assert_eq!(weights.len(), self.weight_stride, "LAB base classifiers differ in table size");
        self.flat_weights.extend_from_slice(&weights);
        self.base_classifiers
            .push(BaseClassifier { weights, thresh })
    }
}

const K_FEAT_GROUP_SIZE: usize = 10;
const K_STDDEV_THRESH: f64 = 10.0;

impl LabBoostedClassifier {
    /// Scores one window: groups of 10 base classifiers, stopping at the first group whose
    /// running score falls below its threshold.
    ///
    /// fer-batch patch: the window's top-left offset into the feature map is computed once and
    /// the weights come from one flat table; the sums are upstream 0.1.7's, in the same order.
    pub fn classify(&self, feature_map: &LabBoostedFeatureMap, roi: Rectangle) -> Score {
        let map_width = feature_map.width() as i32;
        let origin = roi.y() * map_width + roi.x();
        let (positive, score) = self.run_from(feature_map.codes(), map_width, origin, 0, 0.0);
        Self::finish(feature_map, roi, positive, score)
    }

    /// Scores two windows of the same map at once (fer-batch patch): while both pass, their
    /// groups are summed side by side, two independent dependency chains instead of one; the
    /// survivor then continues alone. Each window's sums are exactly those of `classify`.
    pub fn classify_pair(&self, feature_map: &LabBoostedFeatureMap, a: Rectangle, b: Rectangle) -> (Score, Score) {
        let codes = feature_map.codes();
        let map_width = feature_map.width() as i32;
        let (origin_a, origin_b) = (a.y() * map_width + a.x(), b.y() * map_width + b.x());
        let stride = self.weight_stride;
        let (mut pa, mut pb) = (true, true);
        let (mut sa, mut sb) = (0.0f32, 0.0f32);
        let mut i = 0;
        while pa && pb && i < self.base_classifiers.len() {
            for _ in 0..K_FEAT_GROUP_SIZE {
                let (offset_x, offset_y) = self.features[i];
                let offset = offset_y * map_width + offset_x;
                let weights = &self.flat_weights[i * stride..(i + 1) * stride];
                sa += weights[codes[(origin_a + offset) as usize] as usize];
                sb += weights[codes[(origin_b + offset) as usize] as usize];
                i += 1;
            }
            let thresh = self.base_classifiers[i - 1].thresh;
            pa = sa >= thresh;
            pb = sb >= thresh;
        }
        let (pa, sa) = if pa { self.run_from(codes, map_width, origin_a, i, sa) } else { (false, sa) };
        let (pb, sb) = if pb { self.run_from(codes, map_width, origin_b, i, sb) } else { (false, sb) };
        (Self::finish(feature_map, a, pa, sa), Self::finish(feature_map, b, pb, sb))
    }

    /// Continues a window's groups from base classifier `i` with running score `score`.
    #[inline]
    fn run_from(&self, codes: &[u8], map_width: i32, origin: i32, mut i: usize, mut score: f32) -> (bool, f32) {
        let stride = self.weight_stride;
        let mut positive = true;
        while positive && i < self.base_classifiers.len() {
            for _ in 0..K_FEAT_GROUP_SIZE {
                let (offset_x, offset_y) = self.features[i];
                let feature_val = codes[(origin + offset_y * map_width + offset_x) as usize];
                score += self.flat_weights[i * stride + feature_val as usize];
                i += 1;
            }
            positive = score >= self.base_classifiers[i - 1].thresh;
        }
        (positive, score)
    }

    #[inline]
    fn finish(feature_map: &LabBoostedFeatureMap, roi: Rectangle, positive: bool, score: f32) -> Score {
        let positive = positive && (feature_map.get_std_dev(roi) > K_STDDEV_THRESH);
        Score { positive, score }
    }
}
