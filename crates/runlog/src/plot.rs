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

/// One curve of a chart: a bold line, optionally with a shaded band around it (mean ± std)
/// and its raw values drawn faintly behind it (per-episode returns behind their rolling mean).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curve {
    /// Legend entry.
    pub label: String,
    /// The bold line, `(x, y)` in x order.
    pub points: Vec<(f64, f64)>,
    /// The shaded band, `(x, low, high)` in x order; empty = none.
    pub band: Vec<(f64, f64, f64)>,
    /// Raw values drawn faint behind the line; empty = none.
    pub raw: Vec<(f64, f64)>,
}

impl Curve {
    /// A plain line.
    pub fn line(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Curve {
            label: label.into(),
            points,
            ..Curve::default()
        }
    }
}

/// One chart: curves sharing axes. Everything is clipped to the plot area.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// Caption above the chart (may be empty).
    pub caption: String,
    /// The x axis' unit (`env step`, `epoch`, `round`).
    pub x_label: String,
    pub y_label: String,
    pub curves: Vec<Curve>,
    /// A fixed y range; `None` = the data's (lines, bands and raw values), padded 5%.
    pub y_range: Option<(f64, f64)>,
}

/// How [`plot_learning_curve_with`] draws a run's metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct CurveStyle {
    /// The x axis' unit: what one step of the run is (`env step`; `epoch` for behavioural
    /// cloning, `round` for DAgger).
    pub x_label: String,
    /// Rolling-mean window over raw per-episode metrics (SB3 reports the mean of the last 100).
    pub window: usize,
    /// Metrics drawn as raw values (faint) under their rolling mean (bold).
    pub smoothed: Vec<String>,
}

impl Default for CurveStyle {
    fn default() -> Self {
        CurveStyle {
            x_label: "step".into(),
            window: 100,
            smoothed: vec!["episode_return".into(), "episode_length".into()],
        }
    }
}

/// Plots `metrics` (all metrics when empty) from `rows`, one panel per metric, value over step,
/// with [`CurveStyle::default`].
pub fn plot_learning_curve(
    rows: &[MetricRow],
    out_png: &Path,
    title: &str,
    metrics: &[&str],
) -> Result<()> {
    plot_learning_curve_with(rows, out_png, title, metrics, &CurveStyle::default())
}

/// Plots `metrics` (all metrics when empty) from `rows`, one panel per metric. A metric in
/// `style.smoothed` is drawn raw (faint) under its rolling mean (bold); a metric whose name has
/// `mean` with a logged `std` twin (`eval_mean_return`, `eval_std_return`) gets a ± std band.
pub fn plot_learning_curve_with(
    rows: &[MetricRow],
    out_png: &Path,
    title: &str,
    metrics: &[&str],
    style: &CurveStyle,
) -> Result<()> {
    let names: Vec<String> = if metrics.is_empty() {
        // A `…std…` metric is drawn as its `…mean…` twin's band, not as a chart of its own.
        let all = metric_names(rows);
        all.iter()
            .filter(|n| {
                let mean = n.replacen("std", "mean", 1);
                mean == **n || !all.contains(&mean)
            })
            .cloned()
            .collect()
    } else {
        metrics.iter().map(|s| s.to_string()).collect()
    };
    let charts: Vec<Chart> = names
        .iter()
        .map(|name| Chart {
            caption: name.clone(),
            x_label: style.x_label.clone(),
            y_label: name.clone(),
            curves: vec![metric_curve(rows, name, style)],
            y_range: None,
        })
        .collect();
    render(out_png, title, charts, font_available())
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

/// The curve of metric `name`: smoothed, banded or plain (see [`plot_learning_curve_with`]).
pub fn metric_curve(rows: &[MetricRow], name: &str, style: &CurveStyle) -> Curve {
    let points = metric_series(rows, name);
    if style.smoothed.iter().any(|s| s == name) {
        return Curve {
            label: format!("{name} (mean of last {})", style.window),
            points: rolling_mean(&points, style.window),
            band: Vec::new(),
            raw: points,
        };
    }
    let std_name = name.replacen("mean", "std", 1);
    let std = if std_name == name {
        Vec::new()
    } else {
        metric_series(rows, &std_name)
    };
    let band = points
        .iter()
        .filter_map(|&(x, y)| {
            std.iter()
                .find(|(sx, _)| (sx - x).abs() <= f64::EPSILON * x.abs().max(1.0))
                .map(|&(_, s)| (x, y - s, y + s))
        })
        .collect();
    Curve {
        label: if std.is_empty() {
            name.to_string()
        } else {
            format!("{name} ± {}", std_name)
        },
        points,
        band,
        raw: Vec::new(),
    }
}

/// The mean of the last `window` values at each point (fewer at the start), SB3's
/// `ep_rew_mean`: `m_i = mean(y_{max(0, i−w+1)} … y_i)`.
pub fn rolling_mean(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let mut sum = 0.0;
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| {
            sum += y;
            if i >= window {
                sum -= points[i - window].1;
            }
            (x, sum / (i + 1).min(window) as f64)
        })
        .collect()
}

/// Draws `charts` stacked vertically into `out_png` (one chart per panel), atomically.
pub fn plot_charts(charts: &[Chart], out_png: &Path, title: &str) -> Result<()> {
    render(out_png, title, charts.to_vec(), font_available())
}

/// Plots labelled `(x, y)` series on one chart with a legend, e.g. one line per seed.
pub fn plot_curves<S: AsRef<str>>(
    series: &[(S, Vec<(f64, f64)>)],
    out_png: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
) -> Result<()> {
    let chart = Chart {
        caption: String::new(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        curves: series
            .iter()
            .map(|(label, points)| Curve::line(label.as_ref(), points.clone()))
            .collect(),
        y_range: None,
    };
    render(out_png, title, vec![chart], font_available())
}

/// Keeps finite values only; drops empty curves and charts.
fn finite_charts(mut charts: Vec<Chart>) -> Vec<Chart> {
    for chart in &mut charts {
        for c in &mut chart.curves {
            c.points.retain(|(x, y)| x.is_finite() && y.is_finite());
            c.raw.retain(|(x, y)| x.is_finite() && y.is_finite());
            c.band
                .retain(|(x, lo, hi)| x.is_finite() && lo.is_finite() && hi.is_finite());
        }
        chart
            .curves
            .retain(|c| !(c.points.is_empty() && c.raw.is_empty()));
    }
    charts.retain(|p| !p.curves.is_empty());
    charts
}

/// Draws `charts` stacked vertically into `out_png`, atomically.
fn render(out_png: &Path, title: &str, charts: Vec<Chart>, text: bool) -> Result<()> {
    let charts = finite_charts(charts);
    if charts.is_empty() {
        return Err(Error::plot(out_png, "no finite data points to plot"));
    }
    let size = canvas_size(charts.len(), text);
    write_png(out_png, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        draw(&root, title, &charts, text).map(|_| ())
    })
}

fn canvas_size(panels: usize, text: bool) -> (u32, u32) {
    let height = PANEL_SIZE.1 * panels as u32 + if text { 40 } else { 0 };
    (PANEL_SIZE.0, height)
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

/// The pixel rectangle `(x range, y range)` of one chart's plot area.
type PixelRect = (Range<i32>, Range<i32>);

/// Draws the charts onto `root`; returns each chart's plot-area pixels.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    charts: &[Chart],
    text: bool,
) -> std::result::Result<Vec<PixelRect>, String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let body = if text && !title.is_empty() {
        root.titled(title, ("sans-serif", 24))
            .map_err(|e| e.to_string())?
    } else {
        root.clone()
    };
    let mut rects = Vec::new();
    for (chart, area) in charts.iter().zip(body.split_evenly((charts.len(), 1))) {
        rects.push(draw_chart(&area, chart, text)?);
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(rects)
}

/// Stroke width of a curve's bold line, in pixels.
const LINE_WIDTH: u32 = 2;

/// Curves of at most this many points get a marker at each point.
const MARKED_POINTS: usize = 30;

/// Radius of those markers, in pixels.
const MARKER_RADIUS: u32 = 3;

fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    text: bool,
) -> std::result::Result<PixelRect, String> {
    let xs = chart.curves.iter().flat_map(|c| {
        c.points
            .iter()
            .map(|p| p.0)
            .chain(c.raw.iter().map(|p| p.0))
            .chain(c.band.iter().map(|b| b.0))
    });
    let x = padded_range(xs, 0.0);
    let y = match chart.y_range {
        Some((lo, hi)) if lo < hi && lo.is_finite() && hi.is_finite() => lo..hi,
        _ => padded_range(
            chart.curves.iter().flat_map(|c| {
                c.points
                    .iter()
                    .map(|p| p.1)
                    .chain(c.raw.iter().map(|p| p.1))
                    .chain(c.band.iter().flat_map(|b| [b.1, b.2]))
            }),
            0.05,
        ),
    };
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder.x_label_area_size(40).y_label_area_size(70);
        if !chart.caption.is_empty() {
            builder.caption(&chart.caption, ("sans-serif", 18));
        }
    }
    let mut ctx = builder
        .build_cartesian_2d(x.clone(), y.clone())
        .map_err(|e| e.to_string())?;
    let mut mesh = ctx.configure_mesh();
    if text {
        mesh.x_desc(&chart.x_label)
            .y_desc(&chart.y_label)
            .x_label_formatter(&|v| axis_tick(*v));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| e.to_string())?;
    let pixels = ctx.plotting_area().get_pixel_range();
    // Strokes are clipped to the plot area shrunk by a stroke's (or marker's) width, so no
    // pixel of a curve falls on or past an axis.
    let inset = |r: &Range<f64>, px: &Range<i32>| {
        let per_px = (r.end - r.start) / f64::from((px.end - px.start).max(1));
        let d = per_px * f64::from(LINE_WIDTH.max(MARKER_RADIUS) + 1);
        (r.start + d, r.end - d)
    };
    let (x0, x1) = inset(&x, &pixels.0);
    let (y0, y1) = inset(&y, &pixels.1);
    let clip = ClipRect { x0, x1, y0, y1 };
    for (i, c) in chart.curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        if c.band.len() >= 2 {
            let outline: Vec<(f64, f64)> = c
                .band
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(c.band.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            let polygon = clip.polygon(&outline);
            if polygon.len() >= 3 {
                ctx.draw_series(std::iter::once(Polygon::new(
                    polygon,
                    color.mix(0.2).filled(),
                )))
                .map_err(|e| e.to_string())?;
            }
        }
        if !c.raw.is_empty() {
            let faint = color.mix(0.25).stroke_width(1);
            ctx.draw_series(
                clip.polyline(&c.raw)
                    .into_iter()
                    .map(|piece| PathElement::new(piece, faint)),
            )
            .map_err(|e| e.to_string())?;
        }
        // A curve of a few points (BC's one evaluation at the end) shows each point, and a band
        // too short to shade shows as error bars.
        if c.points.len() <= MARKED_POINTS {
            ctx.draw_series(
                c.points
                    .iter()
                    .filter(|p| clip.contains(**p))
                    .map(|&p| Circle::new(p, MARKER_RADIUS, color.filled())),
            )
            .map_err(|e| e.to_string())?;
        }
        if c.band.len() == 1 {
            ctx.draw_series(c.band.iter().filter_map(|&(x, lo, hi)| {
                clip.segment((x, lo), (x, hi))
                    .map(|(a, b)| PathElement::new(vec![a, b], color.stroke_width(1)))
            }))
            .map_err(|e| e.to_string())?;
        }
        let bold = color.stroke_width(LINE_WIDTH);
        let drawn = ctx
            .draw_series(
                clip.polyline(&c.points)
                    .into_iter()
                    .map(|piece| PathElement::new(piece, bold)),
            )
            .map_err(|e| e.to_string())?;
        if text {
            drawn.label(c.label.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(LINE_WIDTH))
            });
        }
    }
    let labelled = chart.curves.len() > 1 || chart.curves.iter().any(|c| !c.band.is_empty());
    if text && labelled {
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(pixels)
}

/// An axis-aligned rectangle in data coordinates that lines and polygons are clipped to.
#[derive(Clone, Copy, Debug)]
struct ClipRect {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl ClipRect {
    fn contains(&self, (x, y): (f64, f64)) -> bool {
        x >= self.x0 && x <= self.x1 && y >= self.y0 && y <= self.y1
    }

    /// The segment `a → b` inside the rectangle (Liang–Barsky), if any of it is.
    fn segment(&self, a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (p, q) in [
            (-dx, a.0 - self.x0),
            (dx, self.x1 - a.0),
            (-dy, a.1 - self.y0),
            (dy, self.y1 - a.1),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let t = q / p;
                if p < 0.0 {
                    t0 = t0.max(t);
                } else {
                    t1 = t1.min(t);
                }
            }
        }
        (t0 <= t1).then_some((
            (a.0 + t0 * dx, a.1 + t0 * dy),
            (a.0 + t1 * dx, a.1 + t1 * dy),
        ))
    }

    /// The parts of the polyline inside the rectangle, as separate polylines.
    fn polyline(&self, points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
        let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current: Vec<(f64, f64)> = Vec::new();
        if let [only] = points
            && self.contains(*only)
        {
            return vec![vec![*only, *only]];
        }
        for w in points.windows(2) {
            match self.segment(w[0], w[1]) {
                Some((a, b)) => {
                    if current.last() != Some(&a) {
                        if current.len() >= 2 {
                            pieces.push(std::mem::take(&mut current));
                        }
                        current.clear();
                        current.push(a);
                    }
                    current.push(b);
                }
                None => {
                    if current.len() >= 2 {
                        pieces.push(std::mem::take(&mut current));
                    }
                    current.clear();
                }
            }
        }
        if current.len() >= 2 {
            pieces.push(current);
        }
        pieces
    }

    /// The polygon clipped to the rectangle (Sutherland–Hodgman, one edge at a time).
    fn polygon(&self, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
        type Edge = (
            fn(&ClipRect, (f64, f64)) -> bool,
            fn(&ClipRect, (f64, f64), (f64, f64)) -> (f64, f64),
        );
        fn at_x(a: (f64, f64), b: (f64, f64), x: f64) -> (f64, f64) {
            let t = (x - a.0) / (b.0 - a.0);
            (x, a.1 + t * (b.1 - a.1))
        }
        fn at_y(a: (f64, f64), b: (f64, f64), y: f64) -> (f64, f64) {
            let t = (y - a.1) / (b.1 - a.1);
            (a.0 + t * (b.0 - a.0), y)
        }
        let edges: [Edge; 4] = [
            (|r, p| p.0 >= r.x0, |r, a, b| at_x(a, b, r.x0)),
            (|r, p| p.0 <= r.x1, |r, a, b| at_x(a, b, r.x1)),
            (|r, p| p.1 >= r.y0, |r, a, b| at_y(a, b, r.y0)),
            (|r, p| p.1 <= r.y1, |r, a, b| at_y(a, b, r.y1)),
        ];
        let mut poly = points.to_vec();
        for (inside, cross) in edges {
            let input = std::mem::take(&mut poly);
            let Some(&last) = input.last() else {
                break;
            };
            let mut prev = last;
            for &p in &input {
                match (inside(self, prev), inside(self, p)) {
                    (true, true) => poly.push(p),
                    (true, false) => poly.push(cross(self, prev, p)),
                    (false, true) => {
                        poly.push(cross(self, prev, p));
                        poly.push(p);
                    }
                    (false, false) => {}
                }
                prev = p;
            }
        }
        poly
    }
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
        let chart = Chart {
            caption: "c".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            curves: vec![Curve::line("a", sine(50, 0.0))],
            y_range: None,
        };
        render(&out, "title", vec![chart], false)?;
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

    /// Whether a pixel is a curve's colour rather than white, grey or black (axes, text, mesh).
    fn coloured(px: &[u8]) -> bool {
        let (max, min) = (
            px.iter().copied().max().unwrap_or(0),
            px.iter().copied().min().unwrap_or(0),
        );
        max - min > 40
    }

    /// Renders `charts` into an RGB buffer; returns it with its width and the plot areas.
    fn render_to_buffer(charts: &[Chart], text: bool) -> (Vec<u8>, u32, Vec<PixelRect>) {
        let size = canvas_size(charts.len(), text);
        let mut buf = vec![0u8; (size.0 * size.1 * 3) as usize];
        let rects = {
            let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
            draw(&root, "clip", charts, text).unwrap_or_default()
        };
        (buf, size.0, rects)
    }

    #[test]
    fn curves_are_clipped_to_the_plot_area() {
        // Values from −5 to 5 and a band from −6 to 6 on a chart fixed to [0, 1].
        let points: Vec<(f64, f64)> = (0..200)
            .map(|i| (f64::from(i), 5.0 * (f64::from(i) / 7.0).sin()))
            .collect();
        let band = points.iter().map(|&(x, y)| (x, y - 1.0, y + 1.0)).collect();
        let chart = Chart {
            caption: String::new(),
            x_label: "step".into(),
            y_label: "y".into(),
            curves: vec![
                Curve {
                    label: "wild".into(),
                    raw: points.iter().map(|&(x, y)| (x, -y)).collect(),
                    points,
                    band,
                },
                // Few points: drawn with markers, some on or past the range's edges.
                Curve::line(
                    "few",
                    vec![
                        (0.0, 0.5),
                        (50.0, 2.0),
                        (100.0, 0.0),
                        (150.0, -1.0),
                        (199.0, 1.0),
                    ],
                ),
            ],
            y_range: Some((0.0, 1.0)),
        };
        for text in [false, font_available()] {
            let (buf, width, rects) = render_to_buffer(std::slice::from_ref(&chart), text);
            assert_eq!(rects.len(), 1);
            let (xs, ys) = rects[0].clone();
            let mut inside = 0;
            let mut outside = Vec::new();
            for (i, px) in buf.chunks_exact(3).enumerate() {
                if !coloured(px) {
                    continue;
                }
                let (x, y) = ((i as u32 % width) as i32, (i as u32 / width) as i32);
                // The x axis is drawn on the plot area's bottom row; nothing of a curve may
                // touch it or lie below it, nor outside the other sides.
                if xs.contains(&x) && y >= ys.start && y < ys.end - 1 {
                    inside += 1;
                } else {
                    outside.push((x, y));
                }
            }
            assert!(inside > 1000, "the curve was not drawn: {inside} pixels");
            assert!(
                outside.is_empty(),
                "{} coloured pixels outside the plot area {xs:?}×{ys:?}, e.g. {:?}",
                outside.len(),
                &outside[..outside.len().min(5)]
            );
        }
    }

    #[test]
    fn clipping_keeps_what_is_inside() {
        let r = ClipRect {
            x0: 0.0,
            x1: 10.0,
            y0: 0.0,
            y1: 1.0,
        };
        // Up through the top edge at x = 1, back down through it at x = 3.
        let pieces = r.polyline(&[(0.0, 0.5), (2.0, 1.5), (4.0, 0.5)]);
        assert_eq!(pieces.len(), 2);
        let ends = [pieces[0][1], pieces[1][0]];
        for (got, want) in ends.iter().zip([(1.0, 1.0), (3.0, 1.0)]) {
            assert!((got.0 - want.0).abs() < 1e-12 && (got.1 - want.1).abs() < 1e-12);
        }
        assert!(r.polyline(&[(0.0, 2.0), (5.0, 3.0)]).is_empty());
        // A square sticking out of the bottom is cut at y = 0: area 1 × 0.5.
        let poly = r.polygon(&[(1.0, -0.5), (2.0, -0.5), (2.0, 0.5), (1.0, 0.5)]);
        let area: f64 = poly
            .iter()
            .zip(poly.iter().cycle().skip(1))
            .map(|(a, b)| a.0 * b.1 - b.0 * a.1)
            .sum::<f64>()
            .abs()
            / 2.0;
        assert!((area - 0.5).abs() < 1e-12, "{area} {poly:?}");
        assert!(poly.iter().all(|p| r.contains(*p)));
    }

    #[test]
    fn rolling_mean_averages_the_last_window() {
        let pts: Vec<(f64, f64)> = [1.0, 2.0, 3.0, 4.0, 5.0]
            .iter()
            .enumerate()
            .map(|(i, &y)| (i as f64, y))
            .collect();
        let m: Vec<f64> = rolling_mean(&pts, 2).iter().map(|p| p.1).collect();
        for (got, want) in m.iter().zip([1.0, 1.5, 2.5, 3.5, 4.5]) {
            assert!((got - want).abs() < 1e-12, "{m:?}");
        }
        let all: Vec<f64> = rolling_mean(&pts, 100).iter().map(|p| p.1).collect();
        assert!((all[4] - 3.0).abs() < 1e-12);
    }

    #[test]
    fn eval_mean_gets_its_std_band_and_episodes_their_rolling_mean() {
        let row = |step: u64, name: &str, value: f64| MetricRow {
            step,
            wall_time: 0.0,
            name: name.into(),
            value,
        };
        let rows = vec![
            row(10, "episode_return", 1.0),
            row(20, "episode_return", 3.0),
            row(20, "eval_mean_return", 5.0),
            row(20, "eval_std_return", 2.0),
        ];
        let style = CurveStyle {
            window: 2,
            ..CurveStyle::default()
        };
        let eval = metric_curve(&rows, "eval_mean_return", &style);
        assert_eq!(eval.band, vec![(20.0, 3.0, 7.0)]);
        let episodes = metric_curve(&rows, "episode_return", &style);
        assert_eq!(episodes.raw.len(), 2);
        assert!((episodes.points[1].1 - 2.0).abs() < 1e-12);
    }

    #[test]
    fn padded_range_widens_zero_span() {
        let r = padded_range([2.0, 2.0].into_iter(), 0.05);
        assert!(r.start < 2.0 && r.end > 2.0);
    }
}
