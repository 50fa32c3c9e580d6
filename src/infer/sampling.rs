//! Choosing the next token from logits: greedy, temperature and top-k, with a seeded generator
//! that gives the same draws natively and in the browser.

/// SplitMix64: small, fast, and identical on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingOptions {
    /// 0 picks the most likely token (greedy); higher values flatten the distribution.
    pub temperature: f32,
    /// Sample only among the k most likely tokens; 0 means all of them.
    pub top_k: usize,
    pub seed: u64,
    /// The answer stops after this many tokens if no `<|eos|>` came first.
    pub max_new_tokens: usize,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self { temperature: 0.0, top_k: 0, seed: 0, max_new_tokens: 48 }
    }
}

/// Softmax of `logits` at temperature 1.
pub fn probabilities(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// The `k` most likely (id, probability) pairs, most likely first.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut ranked: Vec<(u32, f32)> = probs.iter().enumerate().map(|(i, &p)| (i as u32, p)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}

pub struct Sampler {
    options: SamplingOptions,
    rng: Rng,
}

impl Sampler {
    pub fn new(options: SamplingOptions) -> Self {
        Self { options, rng: Rng::new(options.seed) }
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.options.temperature <= 0.0 {
            return top_k(&probabilities(logits), 1)[0].0;
        }
        let scaled: Vec<f32> = logits.iter().map(|&l| l / self.options.temperature).collect();
        let k = if self.options.top_k == 0 { scaled.len() } else { self.options.top_k.min(scaled.len()) };
        let candidates = top_k(&probabilities(&scaled), k);
        let total: f32 = candidates.iter().map(|c| c.1).sum();
        let mut target = self.rng.uniform() as f32 * total;
        for &(id, p) in &candidates {
            if target < p {
                return id;
            }
            target -= p;
        }
        candidates[candidates.len() - 1].0
    }
}
