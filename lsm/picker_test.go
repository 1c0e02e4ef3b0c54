package lsm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/seed-d6fe07da/strata/internal/base"
	"github.com/seed-d6fe07da/strata/manifest"
)

// buildVersion makes a version from a spec with one run per line:
//
//	L1 r5: a-b/100 c-d/100
//
// is run 5 at level 1 holding files [a, b] and [c, d] of 100 bytes each.
// File numbers are handed out in order, starting at 1.
func buildVersion(t testing.TB, spec string) *Version {
	t.Helper()
	e := &manifest.VersionEdit{}
	num := base.FileNum(1)
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		head, files, ok := strings.Cut(line, ":")
		var level int
		var run uint64
		if _, err := fmt.Sscanf(head, "L%d r%d", &level, &run); err != nil || !ok {
			t.Fatalf("bad run line %q", line)
		}
		for _, tok := range strings.Fields(files) {
			rng, sz, ok1 := strings.Cut(tok, "/")
			lo, hi, ok2 := strings.Cut(rng, "-")
			size, err := strconv.ParseUint(sz, 10, 64)
			if !ok1 || !ok2 || err != nil {
				t.Fatalf("bad file %q in %q", tok, line)
			}
			e.NewFiles = append(e.NewFiles, manifest.NewFile{Level: level, Meta: fileMeta(num, run, lo, hi, size)})
			num++
		}
	}
	v, err := newVersion(nil).Apply(e)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fileMeta(num base.FileNum, run uint64, lo, hi string, size uint64) manifest.FileMeta {
	return manifest.FileMeta{
		FileNum:  num,
		Run:      run,
		Size:     size,
		Entries:  1,
		Smallest: base.MakeInternalKey([]byte(lo), 1, base.KindSet),
		Largest:  base.MakeInternalKey([]byte(hi), 1, base.KindSet),
	}
}

// describe formats a merge as
//
//	L0 r9 {a-b} + L1 r5 {b-c} => L1 r5 bottommost
//
// naming each input run's files by key range, then the output level and
// run ("new run" for OutputRunID 0) and the flags that are set.
func describe(c *Compaction) string {
	if c == nil {
		return "nil"
	}
	var b strings.Builder
	for i, in := range c.Inputs {
		if i > 0 {
			b.WriteString(" + ")
		}
		fmt.Fprintf(&b, "L%d r%d {", in.Level, in.runID)
		for j, f := range in.Files {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s-%s", f.Smallest.UserKey, f.Largest.UserKey)
		}
		b.WriteByte('}')
	}
	fmt.Fprintf(&b, " => L%d ", c.OutputLevel)
	if c.OutputRunID == 0 {
		b.WriteString("new run")
	} else {
		fmt.Fprintf(&b, "r%d", c.OutputRunID)
	}
	if c.Bottommost {
		b.WriteString(" bottommost")
	}
	if c.TrivialMove {
		b.WriteString(" trivial")
	}
	return b.String()
}

var (
	// Capacities with T=4, B=100: L1 300, L2 1200, L3 4800.
	leveling = PickerOptions{SizeRatio: 4, RunsPerLevel: 1, RunsAtLastLevel: 1, L0Trigger: 4, BaseLevelSize: 100}
	tiering  = PickerOptions{SizeRatio: 4, RunsPerLevel: 3, RunsAtLastLevel: 3, L0Trigger: 4, BaseLevelSize: 100}
	lazy     = PickerOptions{SizeRatio: 4, RunsPerLevel: 3, RunsAtLastLevel: 1, L0Trigger: 4, BaseLevelSize: 100}
)

// pickerOptions names the policies the picker scripts use.
var pickerOptions = map[string]PickerOptions{"leveling": leveling, "tiering": tiering, "lazy": lazy}

// TestPicker runs the scripts in testdata/picker. Commands:
//
//	define [opts=leveling|tiering|lazy]
//	<the tree, one run per line, as buildVersion reads it>
//
// makes the tree the next commands pick from; with opts it also makes a
// fresh picker for that policy, without it the picker lives on.
//
//	pick | pick-level0 | pick-for-reads | pick-fold | pick-levels-for-reads
//	pick-manual [start=<key>] [end=<key>]
//
// print the merge the picker returns (see describe); a bound pick-manual
// is not given is unbounded.
//
//	fold-frees-space
//
// prints FoldFreesSpace of the tree's PickFold.
//
//	run-limits | scores
//
// print each level's run limit and score.
func TestPicker(t *testing.T) {
	datadriven.Walk(t, "testdata/picker", func(t *testing.T, path string) {
		var v *Version
		var p *Picker
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "define" && (v == nil || p == nil) {
				d.Fatalf(t, "%s before define opts=...", d.Cmd)
			}
			switch d.Cmd {
			case "define":
				v = buildVersion(t, d.Input)
				if d.HasArg("opts") {
					var name string
					d.ScanArgs(t, "opts", &name)
					o, ok := pickerOptions[name]
					if !ok {
						d.Fatalf(t, "unknown options %q", name)
					}
					p = NewPicker(o)
				}
				return ""
			case "pick":
				return describe(p.Pick(v))
			case "pick-level0":
				return describe(p.PickLevel0(v))
			case "pick-for-reads":
				return describe(p.PickForReads(v, false))
			case "pick-fold":
				return describe(p.PickFold(v, false))
			case "fold-frees-space":
				fold := p.PickFold(v, false)
				if fold == nil {
					return "no fold"
				}
				return fmt.Sprint(FoldFreesSpace(v, fold))
			case "pick-levels-for-reads":
				return describe(p.PickLevelsForReads(v))
			case "pick-manual":
				var start, end []byte
				if arg, ok := d.Arg("start"); ok {
					start = []byte(arg.SingleVal(t))
				}
				if arg, ok := d.Arg("end"); ok {
					end = []byte(arg.SingleVal(t))
				}
				return describe(p.PickManual(v, start, end))
			case "run-limits", "scores":
				var b strings.Builder
				scores := p.scores(v)
				for l := range NumLevels {
					if d.Cmd == "scores" {
						fmt.Fprintf(&b, "L%d %v\n", l, scores[l])
					} else {
						fmt.Fprintf(&b, "L%d %d\n", l, runLimit(v.DeepestNonEmpty(), l, p.mu.opts))
					}
				}
				return b.String()
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

func TestLevelCapacity(t *testing.T) {
	o := PickerOptions{SizeRatio: 4, BaseLevelSize: 10}
	for level, want := range []uint64{0, 30, 120, 480, 1920} {
		if got := o.levelCapacity(level); got != want {
			t.Errorf("levelCapacity(%d) = %d, want %d", level, got, want)
		}
	}
	if got, want := (PickerOptions{}).levelCapacity(2), uint64(3*4*64<<20); got != want {
		t.Errorf("default levelCapacity(2) = %d, want %d", got, want)
	}
	huge := PickerOptions{SizeRatio: 1000, BaseLevelSize: 1 << 40}
	if got := huge.levelCapacity(NumLevels - 1); got != math.MaxUint64 {
		t.Errorf("overflowing capacity = %d, want saturation", got)
	}
}

func TestPickerOptionsValidate(t *testing.T) {
	if err := (PickerOptions{}).validate(); err != nil {
		t.Errorf("zero options: %v", err)
	}
	for _, o := range []PickerOptions{{SizeRatio: 1}, {RunsPerLevel: -1}, {RunsAtLastLevel: -2}, {L0Trigger: -1}} {
		if err := o.validate(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if o := (PickerOptions{SizeRatio: 1, RunsPerLevel: -1}).withDefaults(); o.SizeRatio != 4 || o.RunsPerLevel != 1 {
		t.Errorf("withDefaults kept invalid values: %+v", o)
	}
}
