package probes

import "fmt"

var _ Probe = (*Memory)(nil)

// Memory keeps a deep copy of every stage it records, grouped per image.
// It is for tests and small runs: it holds the whole run in memory. Use
// Evaluator to score a large run and TraceWriter to keep one.
type Memory struct {
	Info   RunInfo
	Images []Image // in recording order; an image appears once complete

	seq    sequence
	cur    Image
	closed bool
}

// Init starts a new run, discarding what was recorded before.
func (m *Memory) Init(info RunInfo) error {
	if err := info.Check(); err != nil {
		return err
	}
	*m = Memory{Info: info, seq: sequence{stages: info.NumStages}}
	m.Info.StageLayers = cloneSlice(info.StageLayers)
	return nil
}

// Record copies the stage.
func (m *Memory) Record(st *Stage) error {
	if m.closed {
		return fmt.Errorf("probes: memory: %w", ErrClosed)
	}
	if m.seq.stages == 0 {
		return fmt.Errorf("probes: memory: Record before Init")
	}
	if err := checkStage(&m.Info, st); err != nil {
		return err
	}
	last, err := m.seq.step(st)
	if err != nil {
		return err
	}
	if st.Stage == 0 {
		m.cur = Image{Index: st.Image, GT: st.GT.Clone(), Stages: make([]Stage, 0, m.Info.NumStages)}
	}
	m.cur.Stages = append(m.cur.Stages, st.cloneWithGT(m.cur.GT))
	if last {
		m.Images = append(m.Images, m.cur)
		m.cur = Image{}
	}
	return nil
}

// Close ends the run. It fails if an image is incomplete.
func (m *Memory) Close() error {
	if m.closed {
		return fmt.Errorf("probes: memory: %w", ErrClosed)
	}
	m.closed = true
	return m.seq.incomplete()
}
