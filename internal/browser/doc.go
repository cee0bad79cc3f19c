// Package browser drives a headless Chromium through the Chrome DevTools
// Protocol (CDP), for tests that must see a page as a browser shows it:
// load a file, read the DOM by evaluating JavaScript, press keys, move and
// click the mouse, take screenshots, and record every console message,
// uncaught exception and network request on the way.
//
// It speaks CDP over a pipe (chromium --remote-debugging-pipe: commands
// are written to the browser's file descriptor 3 and replies read from its
// descriptor 4, each message one JSON object ended by a NUL byte), so it
// needs no WebSocket client, no open port and no module outside the
// standard library. The protocol's methods and events are documented at
// chromedevtools.github.io/devtools-protocol; this package uses the stable
// Target, Page, Runtime, Network, Log, Emulation and Input domains only.
//
// Find locates the browser: $MPANALYZE_CHROMIUM, else chromium,
// chromium-browser, google-chrome or google-chrome-stable on $PATH, else
// /usr/bin/chromium.
//
// Every browser gets a fresh profile directory, removed by Close, and the
// launch flags that keep a headless Chromium from reaching the network by
// itself (no component updates, no background networking, no sync, no
// QUIC), so that the requests a page records are the page's own.
package browser
