package policy

import (
	"fmt"
	"math"
	"strconv"
)

// Numerical picks the highest number (order "asc", the default) or the
// lowest ("desc"). Values are read exactly as strconv.ParseFloat reads them,
// as Flux does: "1e3", "0x1p4", "1_000", "Inf" and "-0" are numbers. Unlike
// Flux, which fails the whole policy on one unreadable value, values
// ParseFloat rejects (including out-of-range ones like "1e400") and NaN
// are skipped and counted as invalid.
type Numerical struct{ desc bool }

// NewNumerical validates the order.
func NewNumerical(order string) (*Numerical, error) {
	desc, err := parseOrder(order)
	if err != nil {
		return nil, err
	}
	return &Numerical{desc: desc}, nil
}

// String implements Policer.
func (p *Numerical) String() string { return fmt.Sprintf("numerical %s", orderName(p.desc)) }

// Latest implements Policer.
func (p *Numerical) Latest(values []string) (string, int, bool) { return latestOf(p, values) }

func (p *Numerical) newChooser() chooser { return &numericalChooser{desc: p.desc} }

type numericalChooser struct {
	desc       bool
	have       bool
	best       float64
	value, tag string
}

// offer keeps the best number. Equal numbers written differently ("1",
// "1.0", "1e0") go to the least value in byte order, as in Flux, which
// keeps the last of its tags, held in descending byte order; equal values
// go to the least tag, as Flux's filter keeps the last tag it meets.
func (c *numericalChooser) offer(value, tag string) bool {
	f, err := strconv.ParseFloat(value, 64)
	if err != nil || math.IsNaN(f) {
		return false
	}
	var better bool
	switch {
	case !c.have:
		better = true
	case f != c.best:
		better = (f > c.best) != c.desc
	case value != c.value:
		better = value < c.value
	default:
		better = tag < c.tag
	}
	if better {
		c.have, c.best, c.value, c.tag = true, f, value, tag
	}
	return true
}

func (c *numericalChooser) result() (value, tag string, ok bool) { return c.value, c.tag, c.have }
