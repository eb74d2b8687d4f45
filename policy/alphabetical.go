package policy

import "fmt"

// Alphabetical picks the greatest value in byte order (order "asc", the
// default) or the least ("desc"), as Flux's alphabetical policy does:
// useful for RFC 3339 timestamps and similar sortable tags.
type Alphabetical struct{ desc bool }

// NewAlphabetical validates the order.
func NewAlphabetical(order string) (*Alphabetical, error) {
	desc, err := parseOrder(order)
	if err != nil {
		return nil, err
	}
	return &Alphabetical{desc: desc}, nil
}

// String implements Policer.
func (p *Alphabetical) String() string { return fmt.Sprintf("alphabetical %s", orderName(p.desc)) }

// Latest implements Policer. Every string is valid, so invalid is always 0.
func (p *Alphabetical) Latest(values []string) (string, int, bool) { return latestOf(p, values) }

func (p *Alphabetical) newChooser() chooser { return &alphabeticalChooser{desc: p.desc} }

type alphabeticalChooser struct {
	desc       bool
	have       bool
	value, tag string
}

// offer keeps the best value; equal values go to the least tag, as Flux's
// filter keeps the last tag it meets for a value.
func (c *alphabeticalChooser) offer(value, tag string) bool {
	var better bool
	switch {
	case !c.have:
		better = true
	case value != c.value:
		better = (value > c.value) != c.desc
	default:
		better = tag < c.tag
	}
	if better {
		c.have, c.value, c.tag = true, value, tag
	}
	return true
}

func (c *alphabeticalChooser) result() (value, tag string, ok bool) { return c.value, c.tag, c.have }

func orderName(desc bool) string {
	if desc {
		return OrderDesc
	}
	return OrderAsc
}
