package policy

import (
	"fmt"
	"math"
	"strconv"
)

// Numerical picks the highest number (order "asc", the default) or the
// lowest ("desc"); values that do not parse as numbers are skipped and
// counted as invalid. Typical use: build numbers or timestamps extracted by
// filterTags.
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

// Latest implements Policer. Equal numbers written differently ("1.0" and
// "1") are tie-broken by the greatest string.
func (p *Numerical) Latest(values []string) (string, int, bool) {
	var (
		best    float64
		bestRaw string
		found   bool
		invalid int
	)
	for _, raw := range values {
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			invalid++
			continue
		}
		better := !found || (f > best) != p.desc && f != best || f == best && raw > bestRaw
		if better {
			best, bestRaw, found = f, raw, true
		}
	}
	return bestRaw, invalid, found
}
