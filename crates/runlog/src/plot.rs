//! PNG learning curves (plotters, bitmap backend, ab_glyph text).
//!
//! Text needs a TrueType font registered at run time; we look for a common system font (DejaVu
//! Sans on Debian) or the file named by `EIRL_PLOT_FONT`. Without one, charts are drawn without
//! text rather than failing. Every failure, including a panic inside plotters, is returned as
//! [`Error::Plot`]; the PNG is written atomically.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::atomic::{sync_dir, temp_file_in};
use crate::error::{Error, Result};
use crate::metrics::{MetricRow, metric_names, metric_series, read_metrics};

const PANEL_SIZE: (u32, u32) = (960, 360);
const FONT_ENV: &str = "EIRL_PLOT_FONT";
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// One line on a chart.
struct Series<'a> {
    label: &'a str,
    points: Vec<(f64, f64)>,
}

/// One chart: several series sharing axes.
struct Panel<'a> {
    caption: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    series: Vec<Series<'a>>,
}

/// Plots `metrics` (all metrics when empty) from `rows`, one panel per metric, value over step.
pub fn plot_learning_curve(
    rows: &[MetricRow],
    out_png: &Path,
    title: &str,
    metrics: &[&str],
) -> Result<()> {
    let names: Vec<String> = if metrics.is_empty() {
        metric_names(rows)
    } else {
        metrics.iter().map(|s| s.to_string()).collect()
    };
    let panels: Vec<Panel> = names
        .iter()
        .map(|name| Panel {
            caption: name,
            x_label: "step",
            y_label: name,
            series: vec![Series {
                label: name,
                points: metric_series(rows, name),
            }],
        })
        .collect();
    render(out_png, title, panels, font_available())
}

/// [`plot_learning_curve`] reading the rows from a `metrics.csv`.
pub fn plot_learning_curve_csv(
    csv_path: &Path,
    out_png: &Path,
    title: &str,
    metrics: &[&str],
) -> Result<()> {
    let rows = read_metrics(csv_path)?;
    plot_learning_curve(&rows, out_png, title, metrics)
}

/// Plots labelled `(x, y)` series on one chart with a legend, e.g. one line per seed.
pub fn plot_curves<S: AsRef<str>>(
    series: &[(S, Vec<(f64, f64)>)],
    out_png: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
) -> Result<()> {
    let panel = Panel {
        caption: "",
        x_label,
        y_label,
        series: series
            .iter()
            .map(|(label, points)| Series {
                label: label.as_ref(),
                points: points.clone(),
            })
            .collect(),
    };
    render(out_png, title, vec![panel], font_available())
}

/// Draws `panels` stacked vertically into `out_png`, atomically.
fn render(out_png: &Path, title: &str, mut panels: Vec<Panel>, text: bool) -> Result<()> {
    for panel in &mut panels {
        for s in &mut panel.series {
            s.points.retain(|(x, y)| x.is_finite() && y.is_finite());
        }
        panel.series.retain(|s| !s.points.is_empty());
    }
    panels.retain(|p| !p.series.is_empty());
    if panels.is_empty() {
        return Err(Error::plot(out_png, "no finite data points to plot"));
    }
    let height = PANEL_SIZE.1 * panels.len() as u32 + if text { 40 } else { 0 };
    let size = (PANEL_SIZE.0, height);
    write_png(out_png, |tmp| draw(tmp, size, title, &panels, text))
}

/// Runs `draw` on a temporary file next to `out_png`, then renames it into place: a failure or
/// a panic inside plotters becomes [`Error::Plot`] and never leaves a partial PNG.
fn write_png(
    out_png: &Path,
    draw: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    let dir = match out_png.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // The `.png` suffix tells plotters the format.
    let tmp = temp_file_in(dir, ".png").map_err(|e| Error::io(dir, e))?;
    match catch_unwind(AssertUnwindSafe(|| draw(tmp.path()))) {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return Err(Error::plot(out_png, message)),
        Err(_) => return Err(Error::plot(out_png, "the plotting library panicked")),
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(out_png)
        .map_err(|e| Error::io(out_png, e.error))?;
    sync_dir(dir).map_err(|e| Error::io(dir, e))
}

fn draw(
    path: &Path,
    size: (u32, u32),
    title: &str,
    panels: &[Panel],
    text: bool,
) -> std::result::Result<(), String> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let body = if text && !title.is_empty() {
        root.titled(title, ("sans-serif", 24))
            .map_err(|e| e.to_string())?
    } else {
        root.clone()
    };
    for (panel, area) in panels.iter().zip(body.split_evenly((panels.len(), 1))) {
        draw_panel(&area, panel, text)?;
    }
    root.present().map_err(|e| e.to_string())
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend, Shift>,
    panel: &Panel,
    text: bool,
) -> std::result::Result<(), String> {
    let all = panel.series.iter().flat_map(|s| s.points.iter());
    let x = padded_range(all.clone().map(|p| p.0), 0.0);
    let y = padded_range(all.map(|p| p.1), 0.05);
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder.x_label_area_size(40).y_label_area_size(70);
        if !panel.caption.is_empty() {
            builder.caption(panel.caption, ("sans-serif", 18));
        }
    }
    let mut chart = builder
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc(panel.x_label)
            .y_desc(panel.y_label)
            .x_label_formatter(&|v| axis_tick(*v));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    for (i, s) in panel.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let line = chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        if text {
            line.label(s.label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    if text && panel.series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Steps read better as `20000` or `1.5e6` than as `20000.0`.
fn axis_tick(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{v:.1e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `[min, max]` widened by `pad` of its span; a zero span is widened to a unit interval.
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    let span = hi - lo;
    if span <= f64::EPSILON * lo.abs().max(1.0) {
        let half = (lo.abs() * 0.05).max(0.5);
        return (lo - half)..(hi + half);
    }
    (lo - pad * span)..(hi + pad * span)
}

/// Registers a system font with plotters once; `false` when none could be loaded.
fn font_available() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let from_env = std::env::var_os(FONT_ENV).map(std::path::PathBuf::from);
        let candidates = from_env
            .into_iter()
            .chain(FONT_CANDIDATES.iter().map(Into::into));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // plotters keeps fonts for the process's lifetime; leak one file's bytes, once.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// A heat map of `values` (`ny` rows of `nx`, row-major, first row at the bottom = lowest y)
/// over `x_range × y_range`, white → dark blue with the value range in the caption (the SVP
/// paper's value and policy maps). Written atomically; non-finite cells are drawn grey.
#[allow(clippy::too_many_arguments)]
pub fn plot_heatmap(
    values: &[f64],
    nx: usize,
    ny: usize,
    x_range: (f64, f64),
    y_range: (f64, f64),
    out_png: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
) -> Result<()> {
    if nx == 0 || ny == 0 || values.len() != nx * ny {
        return Err(Error::plot(
            out_png,
            format!("{} values cannot fill a {nx}×{ny} heat map", values.len()),
        ));
    }
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
            (l.min(v), h.max(v))
        });
    if lo > hi {
        return Err(Error::plot(out_png, "no finite values to plot"));
    }
    let text = font_available();
    let caption = format!("{title}  (min {lo:.4}, max {hi:.4})");
    write_png(out_png, |tmp| {
        let root = BitMapBackend::new(tmp, (720, 680)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut builder = ChartBuilder::on(&root);
        builder.margin(16);
        if text {
            builder
                .caption(&caption, ("sans-serif", 18))
                .x_label_area_size(40)
                .y_label_area_size(60);
        }
        let mut chart = builder
            .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
            .map_err(|e| e.to_string())?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh();
        if text {
            mesh.x_desc(x_label).y_desc(y_label);
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| e.to_string())?;
        let dx = (x_range.1 - x_range.0) / nx as f64;
        let dy = (y_range.1 - y_range.0) / ny as f64;
        let span = if hi > lo { hi - lo } else { 1.0 };
        chart
            .draw_series((0..nx * ny).map(|k| {
                let (i, j) = (k % nx, k / nx);
                let v = values[k];
                let color = if v.is_finite() {
                    let t = (v - lo) / span;
                    // White (t = 0) to dark blue (t = 1).
                    RGBColor(
                        (255.0 - t * 247.0) as u8,
                        (255.0 - t * 207.0) as u8,
                        (255.0 - t * 148.0) as u8,
                    )
                } else {
                    RGBColor(160, 160, 160)
                };
                let x0 = x_range.0 + i as f64 * dx;
                let y0 = y_range.0 + j as f64 * dy;
                Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], color.filled())
            }))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

    fn sine(n: usize, phase: f64) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| (i as f64, (i as f64 / 10.0 + phase).sin()))
            .collect()
    }

    #[test]
    fn draws_without_text_when_no_font() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let out = dir.path().join("plain.png");
        let panel = Panel {
            caption: "c",
            x_label: "x",
            y_label: "y",
            series: vec![Series {
                label: "a",
                points: sine(50, 0.0),
            }],
        };
        render(&out, "title", vec![panel], false)?;
        let bytes = std::fs::read(&out).map_err(|e| Error::io(&out, e))?;
        assert!(bytes.starts_with(PNG_MAGIC));
        #[cfg(unix)]
        {
            // The same mode as every other file of the run, not a temp file's 0600.
            use std::os::unix::fs::PermissionsExt;
            let plain = dir.path().join("plain.txt");
            std::fs::File::create(&plain).map_err(|e| Error::io(&plain, e))?;
            let mode = |p: &Path| {
                std::fs::metadata(p)
                    .map(|m| m.permissions().mode() & 0o777)
                    .map_err(|e| Error::io(p, e))
            };
            assert_eq!(mode(&out)?, mode(&plain)?);
        }
        Ok(())
    }

    #[test]
    fn degenerate_and_non_finite_data() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let out = dir.path().join("flat.png");
        plot_curves(
            &[("flat", vec![(3.0, 1.0), (3.0, f64::NAN)])],
            &out,
            "t",
            "x",
            "y",
        )?;
        assert!(out.is_file());
        let empty: [(&str, Vec<(f64, f64)>); 1] = [("nan", vec![(0.0, f64::NAN)])];
        assert!(matches!(
            plot_curves(&empty, &dir.path().join("none.png"), "t", "x", "y"),
            Err(Error::Plot { .. })
        ));
        Ok(())
    }

    #[test]
    fn padded_range_widens_zero_span() {
        let r = padded_range([2.0, 2.0].into_iter(), 0.05);
        assert!(r.start < 2.0 && r.end > 2.0);
    }
}
