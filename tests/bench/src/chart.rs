//! The req/s chart of `BENCHMARKS.md`, drawn as SVG with plotters.

use std::path::Path;

use plotters::prelude::*;

/// Draws a horizontal bar chart: one bar per `(label, req/s)`, labelled with the figure.
pub fn draw(path: &Path, title: &str, bars: &[(String, f64)]) -> Result<(), String> {
    let max = bars.iter().map(|(_, v)| *v).fold(1.0_f64, f64::max) * 1.15;
    let height = 80 + 44 * bars.len() as u32;
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(0)
        .build_cartesian_2d(0.0..max, 0.0..bars.len() as f64)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("requests per second (median of alternating rounds)")
        .x_label_formatter(&|v| format!("{:.0}k", v / 1000.0))
        .draw()
        .map_err(|e| e.to_string())?;
    let n = bars.len();
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (label, v))| {
            let y = (n - 1 - i) as f64;
            let colour = if label.starts_with("bare") {
                RGBColor(205, 205, 205)
            } else if label.contains("axum-login") {
                RGBColor(250, 190, 130)
            } else {
                RGBColor(165, 173, 250)
            };
            Rectangle::new([(0.0, y + 0.15), (*v, y + 0.85)], colour.filled())
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (label, v))| {
            let y = (n - 1 - i) as f64;
            Text::new(
                format!("{label}: {v:.0}"),
                (max * 0.01, y + 0.62),
                ("sans-serif", 14).into_font().color(&BLACK),
            )
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
