//! Progress bars, the loss of every step in CSV, and the loss curves as an SVG image.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use candle_core::Result;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;

use super::run::io_err;

pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!("{what:>12} [{{bar:30}}] {{pos}}/{{len}} {{msg}} ({{elapsed}}, eta {{eta}})"))
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar
}

pub struct LossLog {
    csv: BufWriter<File>,
    pub bar: ProgressBar,
    pub started: Instant,
    smoothed: Option<f32>,
}

impl LossLog {
    pub fn new(path: &Path, steps: usize, what: &str) -> Result<Self> {
        let mut csv = BufWriter::new(File::create(path).map_err(|e| io_err(path, e))?);
        writeln!(csv, "step,loss,seconds").map_err(|e| io_err(path, e))?;
        Ok(Self { csv, bar: bar(steps as u64, what), started: Instant::now(), smoothed: None })
    }

    pub fn step(&mut self, step: usize, loss: f32) -> Result<()> {
        let seconds = self.started.elapsed().as_secs_f32();
        writeln!(self.csv, "{step},{loss},{seconds:.2}").map_err(candle_core::Error::wrap)?;
        let s = self.smoothed.map_or(loss, |s| 0.95 * s + 0.05 * loss);
        self.smoothed = Some(s);
        self.bar.set_message(format!("loss {s:.4}"));
        self.bar.inc(1);
        // The CSV is always current, so a long stage can be watched (or plotted) while it runs.
        self.csv.flush().map_err(candle_core::Error::wrap)?;
        if self.bar.is_hidden() {
            // No terminal (a log file, CI): a plain line every 10% instead of the bar.
            let steps = self.bar.length().unwrap_or(1).max(1) as usize;
            if (step + 1) % steps.div_ceil(10) == 0 || step + 1 == steps {
                println!("step {}/{steps}: loss {s:.4} ({seconds:.0} s)", step + 1);
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<f32> {
        self.csv.flush().map_err(candle_core::Error::wrap)?;
        self.bar.finish();
        Ok(self.started.elapsed().as_secs_f32())
    }
}

fn read_curve(path: &Path) -> Vec<(f32, f32)> {
    let Ok(text) = fs::read_to_string(path) else { return vec![] };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut parts = l.split(',');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect()
}

/// One panel per stage whose loss_<stage>.csv exists in `dir`, drawn to `dir/loss.svg`.
pub fn plot(dir: &Path, stages: &[(&str, &str)]) -> Result<()> {
    let out = dir.join("loss.svg");
    let root = SVGBackend::new(&out, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| io_err(&out, e))?;
    let panels = root.split_evenly((2, 2));
    for ((stage, title), area) in stages.iter().zip(panels.iter()) {
        let curve = read_curve(&dir.join(format!("loss_{stage}.csv")));
        if curve.is_empty() {
            continue;
        }
        let max_step = curve.last().map_or(1.0, |p| p.0.max(1.0));
        let max_loss = curve.iter().map(|p| p.1).fold(0f32, f32::max).max(1e-3);
        let mut chart = ChartBuilder::on(area)
            .caption(*title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(0f32..max_step, 0f32..max_loss * 1.05)
            .map_err(|e| io_err(&out, e))?;
        chart.configure_mesh().x_desc("step").y_desc("loss").draw().map_err(|e| io_err(&out, e))?;
        chart.draw_series(LineSeries::new(curve, &BLUE)).map_err(|e| io_err(&out, e))?;
    }
    root.present().map_err(|e| io_err(&out, e))
}
