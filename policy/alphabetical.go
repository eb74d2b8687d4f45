package policy

import "fmt"

// Alphabetical picks the lexically greatest tag (order "asc", the default) or
// the least ("desc"), as Flux's alphabetical policy does: useful for
// RFC 3339 timestamps and similar sortable tags.
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
func (p *Alphabetical) Latest(values []string) (string, int, bool) {
	if len(values) == 0 {
		return "", 0, false
	}
	best := values[0]
	for _, v := range values[1:] {
		if (v > best) != p.desc && v != best {
			best = v
		}
	}
	return best, 0, true
}

func orderName(desc bool) string {
	if desc {
		return OrderDesc
	}
	return OrderAsc
}
