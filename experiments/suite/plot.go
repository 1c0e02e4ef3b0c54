package main

import (
	"fmt"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// lines collects named series of points in the order they were first
// named, for a line plot.
type lines struct {
	names []string
	pts   map[string]plotter.XYs
}

func newLines() *lines { return &lines{pts: map[string]plotter.XYs{}} }

func (l *lines) add(name string, x, y float64) {
	if _, ok := l.pts[name]; !ok {
		l.names = append(l.names, name)
	}
	l.pts[name] = append(l.pts[name], plotter.XY{X: x, Y: y})
}

// panel describes one plot of a figure.
type panel struct {
	title, xLabel, yLabel string
	// logX and logY put the axis on a log scale (values must be > 0).
	logX, logY bool
	// zeroY starts the Y axis at zero (unless logY).
	zeroY bool
	// legendBottom moves the legend to the bottom right.
	legendBottom bool
	// xTicks, when set, are the only X tick marks (labelled with %g).
	xTicks []float64
}

// linePlot draws l as lines with point markers, one colour per series.
func linePlot(pn panel, l *lines) (*plot.Plot, error) {
	p := newPlot(pn)
	for i, name := range l.names {
		xy := l.pts[name]
		ln, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, fmt.Errorf("plot %q series %q: %w", pn.title, name, err)
		}
		ln.Color = plotutil.Color(i)
		ln.Width = vg.Points(1.5)
		ln.Dashes = plotutil.Dashes(i / 7)
		pts.Color = plotutil.Color(i)
		pts.Shape = plotutil.Shape(i)
		p.Add(ln, pts)
		p.Legend.Add(name, ln, pts)
	}
	finishAxes(p, pn)
	return p, nil
}

// barPlot draws grouped bars: one group per name in groups along X, one
// bar per series inside each group; values[series][i] belongs to groups[i].
func barPlot(pn panel, groups []string, series []string, values map[string][]float64) (*plot.Plot, error) {
	p := newPlot(pn)
	w := vg.Points(float64(40) / float64(len(series)))
	for i, s := range series {
		b, err := plotter.NewBarChart(plotter.Values(values[s]), w)
		if err != nil {
			return nil, fmt.Errorf("plot %q series %q: %w", pn.title, s, err)
		}
		b.Color = plotutil.Color(i)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(i)-float64(len(series)-1)/2)
		p.Add(b)
		p.Legend.Add(s, b)
	}
	p.NominalX(groups...)
	p.X.Label.Text = pn.xLabel
	p.Y.Min = 0
	return p, nil
}

func newPlot(pn panel) *plot.Plot {
	p := plot.New()
	p.Y.Tick.Marker = shortTicks{plot.DefaultTicks{}}
	p.Title.Text = pn.title
	p.X.Label.Text = pn.xLabel
	p.Y.Label.Text = pn.yLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = !pn.legendBottom
	p.Legend.Left = false
	p.Legend.ThumbnailWidth = vg.Points(20)
	return p
}

func finishAxes(p *plot.Plot, pn panel) {
	if pn.logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if pn.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = shortTicks{plot.LogTicks{Prec: -1}}
	} else if pn.zeroY {
		p.Y.Min = 0
		if !pn.legendBottom {
			// Head room for the legend above the highest point.
			p.Y.Max = math.Max(p.Y.Max*1.3, 1e-9)
		}
	}
	if pn.xTicks != nil {
		var ticks []plot.Tick
		for _, x := range pn.xTicks {
			ticks = append(ticks, plot.Tick{Value: x, Label: fmt.Sprintf("%g", x)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
}

// savePlots writes the plots to a PNG, laid out in cols columns, each tile
// w by h.
func savePlots(path string, cols int, plots ...*plot.Plot) error {
	rows := (len(plots) + cols - 1) / cols
	if len(plots) < cols {
		cols = len(plots)
	}
	const w, h = 13 * vg.Centimeter, 9.5 * vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(w*vg.Length(cols), h*vg.Length(rows)), vgimg.UseDPI(110))
	dc := draw.New(img)
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
		for c := range grid[r] {
			if i := r*cols + c; i < len(plots) {
				grid[r][c] = plots[i]
			}
		}
	}
	t := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
	canvases := plot.Align(grid, t, dc)
	for r := range grid {
		for c := range grid[r] {
			if grid[r][c] != nil {
				grid[r][c].Draw(canvases[r][c])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// shortTicks relabels another Ticker's labelled ticks in short form:
// 250k, 1.5M, 0.05.
type shortTicks struct{ plot.Ticker }

func (t shortTicks) Ticks(min, max float64) []plot.Tick {
	ticks := t.Ticker.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = short(ticks[i].Value)
		}
	}
	return ticks
}

// short formats v with at most three significant digits and a k or M
// suffix for thousands and millions.
func short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(round3(v/1e6), 'f', -1, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(round3(v/1e3), 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(round3(v), 'f', -1, 64)
}

// round3 rounds v to three significant digits.
func round3(v float64) float64 {
	if v == 0 {
		return 0
	}
	f := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*f) / f
}

// mibOf converts bytes to MiB for an axis.
func mibOf(b int64) float64 { return float64(b) / (1 << 20) }
