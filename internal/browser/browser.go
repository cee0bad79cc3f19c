package browser

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrNotFound is returned by Find when no Chromium is installed.
var ErrNotFound = errors.New("browser: no chromium found (set MPANALYZE_CHROMIUM or install the chromium package)")

// Find returns the path of a Chromium executable (see the package doc).
func Find() (string, error) {
	if p := os.Getenv("MPANALYZE_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("browser: MPANALYZE_CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return "", ErrNotFound
}

// Flags are the command-line flags Launch starts Chromium with (besides
// --remote-debugging-pipe and --user-data-dir).
var Flags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
	"--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
	"--hide-scrollbars", "--font-render-hinting=none", "--force-color-profile=srgb",
	"--disable-features=Translate,MediaRouter,OptimizationHints",
	"about:blank",
}

// Browser is a running Chromium. Its methods are safe for concurrent use.
type Browser struct {
	cmd     *exec.Cmd
	w       io.WriteCloser // the browser's fd 3: commands
	r       io.ReadCloser  // the browser's fd 4: replies and events
	profile string
	stderr  *tailBuffer

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan message
	pages   map[string]*Page // by session id
	closed  bool
	readErr error
	done    chan struct{}
}

// message is one CDP message: a reply (ID set) or an event (Method set).
type message struct {
	ID        int64           `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    string `json:"data,omitempty"`
	} `json:"error,omitempty"`
}

// Launch starts the Chromium at path (see Find) headless, with a fresh
// profile.
func Launch(path string) (*Browser, error) {
	profile, err := os.MkdirTemp("", "mpanalyze-chromium-")
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	// Our ends and the browser's ends of the two pipes.
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		os.RemoveAll(profile)
		return nil, fmt.Errorf("browser: %w", err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("browser: %w", err)
	}
	args := append([]string{"--remote-debugging-pipe", "--user-data-dir=" + profile}, Flags...)
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{cmdR, evW} // fd 3, fd 4
	b := &Browser{cmd: cmd, w: cmdW, r: evR, profile: profile, stderr: &tailBuffer{max: 8 << 10},
		pending: map[int64]chan message{}, pages: map[string]*Page{}, done: make(chan struct{})}
	cmd.Stderr = b.stderr
	cmd.Env = append(os.Environ(), "HOME="+profile) // keep the user's settings out
	if err := cmd.Start(); err != nil {
		cmdR.Close()
		cmdW.Close()
		evR.Close()
		evW.Close()
		os.RemoveAll(profile)
		return nil, fmt.Errorf("browser: start %s: %w", path, err)
	}
	cmdR.Close() // the browser's ends, now owned by the child
	evW.Close()
	go b.readLoop()
	// The first command answers once the browser is up.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var v struct {
		Product string `json:"product"`
	}
	if err := b.call(ctx, "", "Browser.getVersion", nil, &v); err != nil {
		b.Close()
		return nil, fmt.Errorf("browser: %s did not answer: %w (stderr: %s)", path, err, b.stderr.String())
	}
	return b, nil
}

// Close ends the browser and removes its profile.
func (b *Browser) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	// Ask politely, then insist.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = b.call(ctx, "", "Browser.close", nil, nil)
	cancel()
	b.w.Close()
	exited := make(chan error, 1)
	go func() { exited <- b.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-exited
	}
	b.r.Close()
	return os.RemoveAll(b.profile)
}

func (b *Browser) readLoop() {
	br := bufio.NewReaderSize(b.r, 1<<20)
	var err error
	for {
		var line []byte
		line, err = br.ReadBytes(0)
		if err != nil {
			break
		}
		var m message
		if json.Unmarshal(line[:len(line)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch := b.pending[m.ID]; ch != nil {
				delete(b.pending, m.ID)
				ch <- m
			}
		} else if p := b.pages[m.SessionID]; p != nil {
			p.event(m)
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.readErr = err
	for id, ch := range b.pending {
		delete(b.pending, id)
		close(ch)
	}
	b.mu.Unlock()
	close(b.done)
}

// Call sends a browser-level CDP command (one not addressed to a page,
// such as SystemInfo.getProcessInfo) and decodes its result into out.
func (b *Browser) Call(ctx context.Context, method string, params, out any) error {
	return b.call(ctx, "", method, params, out)
}

// call sends one command (to a page's session when session is set) and
// decodes its result into out (when non-nil).
func (b *Browser) call(ctx context.Context, session, method string, params, out any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("browser: %s: connection closed (%v)", method, b.readErr)
	}
	b.nextID++
	id := b.nextID
	ch := make(chan message, 1)
	b.pending[id] = ch
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	raw, err := json.Marshal(msg)
	if err == nil {
		_, err = b.w.Write(append(raw, 0))
	}
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("browser: %s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("browser: %s: the browser went away (stderr: %s)", method, b.stderr.String())
		}
		if m.Error != nil {
			return fmt.Errorf("browser: %s: %s %s", method, m.Error.Message, m.Error.Data)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				return fmt.Errorf("browser: %s: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("browser: %s: %w", method, ctx.Err())
	}
}

// Console is one console message, log entry or uncaught exception of a
// page.
type Console struct {
	// Source is "console" (console.log and friends), "log" (the browser's
	// own messages, such as a failed resource load) or "exception".
	Source string
	// Level is "log", "info", "warning", "error" or "debug".
	Level string
	Text  string
}

func (c Console) String() string { return c.Source + " " + c.Level + ": " + c.Text }

// Page is one browser tab.
type Page struct {
	b       *Browser
	session string
	target  string

	// guarded by b.mu
	console  []Console
	requests []string
	loaded   chan struct{}
}

// NewPage opens a blank tab of width × height CSS pixels.
func (b *Browser) NewPage(ctx context.Context, width, height int) (*Page, error) {
	var t struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &t); err != nil {
		return nil, err
	}
	var a struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": t.TargetID, "flatten": true}, &a); err != nil {
		return nil, err
	}
	p := &Page{b: b, session: a.SessionID, target: t.TargetID}
	b.mu.Lock()
	b.pages[a.SessionID] = p
	b.mu.Unlock()
	for _, m := range []string{"Page.enable", "Runtime.enable", "Network.enable", "Log.enable"} {
		if err := p.Call(ctx, m, nil, nil); err != nil {
			return nil, err
		}
	}
	if err := p.SetViewport(ctx, width, height, 1, false); err != nil {
		return nil, err
	}
	return p, nil
}

// Call sends a CDP command to the page's session.
func (p *Page) Call(ctx context.Context, method string, params, out any) error {
	return p.b.call(ctx, p.session, method, params, out)
}

// event records one event of the page; b.mu is held.
func (p *Page) event(m message) {
	switch m.Method {
	case "Page.loadEventFired":
		if p.loaded != nil {
			close(p.loaded)
			p.loaded = nil
		}
	case "Network.requestWillBeSent":
		var e struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		if json.Unmarshal(m.Params, &e) == nil {
			p.requests = append(p.requests, e.Request.URL)
		}
	case "Runtime.consoleAPICalled":
		var e struct {
			Type string `json:"type"`
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
		}
		if json.Unmarshal(m.Params, &e) == nil {
			var parts []string
			for _, a := range e.Args {
				if a.Value != nil {
					parts = append(parts, fmt.Sprint(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			level := e.Type
			if level == "warn" {
				level = "warning"
			}
			p.console = append(p.console, Console{Source: "console", Level: level, Text: strings.Join(parts, " ")})
		}
	case "Runtime.exceptionThrown":
		var e struct {
			ExceptionDetails struct {
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
		}
		if json.Unmarshal(m.Params, &e) == nil {
			d := e.ExceptionDetails
			p.console = append(p.console, Console{Source: "exception", Level: "error", Text: strings.TrimSpace(d.Text + " " + d.Exception.Description)})
		}
	case "Log.entryAdded":
		var e struct {
			Entry struct {
				Level string `json:"level"`
				Text  string `json:"text"`
				URL   string `json:"url"`
			} `json:"entry"`
		}
		if json.Unmarshal(m.Params, &e) == nil {
			t := e.Entry.Text
			if e.Entry.URL != "" {
				t += " (" + e.Entry.URL + ")"
			}
			p.console = append(p.console, Console{Source: "log", Level: e.Entry.Level, Text: t})
		}
	}
}

// Console returns the console messages, log entries and uncaught
// exceptions recorded since the page was opened.
func (p *Page) Console() []Console {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return append([]Console(nil), p.console...)
}

// Requests returns the URL of every request the page made, in order
// (data: URLs included, as Chromium reports them).
func (p *Page) Requests() []string {
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Navigate loads url and waits for its load event.
func (p *Page) Navigate(ctx context.Context, target string) error {
	loaded := make(chan struct{})
	p.b.mu.Lock()
	p.loaded = loaded
	p.b.mu.Unlock()
	var r struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.Call(ctx, "Page.navigate", map[string]any{"url": target}, &r); err != nil {
		return err
	}
	if r.ErrorText != "" {
		return fmt.Errorf("browser: navigate %s: %s", target, r.ErrorText)
	}
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("browser: navigate %s: no load event: %w", target, ctx.Err())
	}
}

// SetViewport sets the page's size in CSS pixels, its device scale factor
// and whether it emulates a phone (mobile viewport and touch).
func (p *Page) SetViewport(ctx context.Context, width, height int, scale float64, mobile bool) error {
	return p.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}, nil)
}

// Eval evaluates a JavaScript expression in the page (awaiting it when it
// is a promise) and decodes its JSON value into out (when non-nil). A
// thrown exception is an error carrying its description.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Type  string          `json:"type"`
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.Call(ctx, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true, "userGesture": true}, &r)
	if err != nil {
		return err
	}
	if d := r.ExceptionDetails; d != nil {
		return fmt.Errorf("browser: evaluate %.80q: %s %s", expr, d.Text, d.Exception.Description)
	}
	if out == nil {
		return nil
	}
	if len(r.Result.Value) == 0 {
		return fmt.Errorf("browser: evaluate %.80q gave %s, not a JSON value", expr, r.Result.Type)
	}
	return json.Unmarshal(r.Result.Value, out)
}

// WaitFor evaluates a boolean expression every 20 ms until it is true.
func (p *Page) WaitFor(ctx context.Context, expr string) error {
	for {
		var ok bool
		if err := p.Eval(ctx, "!!("+expr+")", &ok); err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("browser: waiting for %q: %w", expr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Key presses and releases a key, given by its DOM key name ("ArrowLeft",
// "Enter", "a").
func (p *Page) Key(ctx context.Context, key string) error {
	code, vk := key, 0
	switch key {
	case "ArrowLeft":
		vk = 37
	case "ArrowUp":
		vk = 38
	case "ArrowRight":
		vk = 39
	case "ArrowDown":
		vk = 40
	case "Enter":
		vk = 13
	case "Escape":
		vk = 27
	case "Home":
		vk = 36
	case "End":
		vk = 35
	default:
		if len(key) == 1 {
			c := strings.ToUpper(key)[0]
			vk = int(c)
			code = "Key" + string(c)
		}
	}
	for _, typ := range []string{"keyDown", "keyUp"} {
		params := map[string]any{"type": typ, "key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
		if typ == "keyDown" && len(key) == 1 {
			params["text"] = key
		}
		if err := p.Call(ctx, "Input.dispatchKeyEvent", params, nil); err != nil {
			return err
		}
	}
	return nil
}

// center returns the viewport coordinates of the centre of the first
// element matching a CSS selector, scrolling it into view.
func (p *Page) center(ctx context.Context, selector string) (x, y float64, err error) {
	var c struct {
		X, Y float64
		OK   bool
	}
	sel, _ := json.Marshal(selector)
	err = p.Eval(ctx, `(() => { const e = document.querySelector(`+string(sel)+`);
		if (!e) return {OK: false, X: 0, Y: 0};
		e.scrollIntoView({block: "center", inline: "center"});
		const r = e.getBoundingClientRect();
		return {OK: true, X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`, &c)
	if err != nil {
		return 0, 0, err
	}
	if !c.OK {
		return 0, 0, fmt.Errorf("browser: no element matches %s", selector)
	}
	return c.X, c.Y, nil
}

// Hover moves the mouse over the centre of the first element matching
// selector.
func (p *Page) Hover(ctx context.Context, selector string) error {
	x, y, err := p.center(ctx, selector)
	if err != nil {
		return err
	}
	return p.Call(ctx, "Input.dispatchMouseEvent", map[string]any{"type": "mouseMoved", "x": x, "y": y}, nil)
}

// Click clicks (left button) the centre of the first element matching
// selector, as a user would: the element must be visible and on top.
func (p *Page) Click(ctx context.Context, selector string) error {
	x, y, err := p.center(ctx, selector)
	if err != nil {
		return err
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		params := map[string]any{"type": typ, "x": x, "y": y}
		if typ != "mouseMoved" {
			params["button"] = "left"
			params["clickCount"] = 1
		}
		if err := p.Call(ctx, "Input.dispatchMouseEvent", params, nil); err != nil {
			return err
		}
	}
	return nil
}

// Screenshot returns a PNG of the viewport, or of the whole page when
// full is set.
func (p *Page) Screenshot(ctx context.Context, full bool) ([]byte, error) {
	params := map[string]any{"format": "png", "captureBeyondViewport": full}
	if full {
		var m struct {
			CSSContentSize struct {
				Width, Height float64
			} `json:"cssContentSize"`
		}
		if err := p.Call(ctx, "Page.getLayoutMetrics", nil, &m); err != nil {
			return nil, err
		}
		params["clip"] = map[string]any{"x": 0, "y": 0, "width": m.CSSContentSize.Width, "height": m.CSSContentSize.Height, "scale": 1}
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := p.Call(ctx, "Page.captureScreenshot", params, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// ScreenshotElement returns a PNG of the first element matching selector
// (scrolled into view).
func (p *Page) ScreenshotElement(ctx context.Context, selector string) ([]byte, error) {
	var r struct {
		X, Y, W, H float64
		OK         bool
	}
	sel, _ := json.Marshal(selector)
	err := p.Eval(ctx, `(() => { const e = document.querySelector(`+string(sel)+`);
		if (!e) return {OK: false, X: 0, Y: 0, W: 0, H: 0};
		const r = e.getBoundingClientRect();
		return {OK: true, X: r.left + window.scrollX, Y: r.top + window.scrollY, W: r.width, H: r.height}; })()`, &r)
	if err != nil {
		return nil, err
	}
	if !r.OK {
		return nil, fmt.Errorf("browser: no element matches %s", selector)
	}
	var out struct {
		Data string `json:"data"`
	}
	err = p.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": r.X, "y": r.Y, "width": r.W, "height": r.H, "scale": 1}}, &out)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(out.Data)
}

// FileURL returns the file:// URL of a local path.
func FileURL(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}

// tailBuffer keeps the last max bytes written to it (the browser's stderr,
// for error messages).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
