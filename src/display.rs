//! The lowest display layer: evcxr's rich-output protocol. Plots, tables and the notebook
//! helpers all print through here, so none of them imports another for display.

/// Sends one HTML block to the notebook (evcxr's rich-output protocol on stdout).
pub fn show_html(html: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "EVCXR_BEGIN_CONTENT text/html\n{html}\nEVCXR_END_CONTENT");
    let _ = out.flush();
}
