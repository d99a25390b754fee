//! The drill's last phase: the checklist, the resolution, the public disclosure and the closing,
//! which publishes the final post-mortem. The drill's figures are then read from that report, so
//! the summary and the post-mortem cannot disagree.

use alloy::primitives::U256;

use super::{DemoError, DemoOptions, DemoReport, Progress, at, steps::eth};
use crate::{
    deployment::Deployment,
    incident::{
        playbook::Responder,
        report::{Report, generate, published},
    },
};

/// Documents the root cause, resolves, discloses, closes incident `r`'s and writes the published
/// post-mortem to `postmortem.md` and `postmortem.html` in the drill's directory (a draft, said
/// so, when it could not be closed); fills the drill's figures from it.
pub(super) async fn close(
    d: &Deployment,
    r: &Responder<'_>,
    report: &mut DemoReport,
    opts: &DemoOptions,
    shipped_block: u64,
    progress: &Progress,
) -> Result<(), DemoError> {
    let Some(id) = report.incident else {
        return Ok(());
    };
    progress.step("post-incident checklist and post-mortem");
    r.check(
        id,
        "root-cause-documented",
        &format!(
            "PaymentEscrow.release paid the payee without settling the payment (shipped by upgrade in block {shipped_block}); the attacker's contract released one payment {} times per transaction",
            super::scene::ROUNDS
        ),
    )
    .map_err(at("the checklist"))?;
    r.check(
        id,
        "fix-audited",
        "drill: the fix restores the audited PaymentEscrow implementation",
    )
    .map_err(at("the checklist"))?;
    r.resolve(id).map_err(at("resolving"))?;
    r.notify(id, "public", None)
        .await
        .map_err(at("public disclosure"))?;
    let _ = r.task_done(id, "public-disclosure-after-mitigation");
    let _ = r.task_done(id, "investigate-root-cause");
    let _ = r.task_done(id, "post-incident-review");
    let closed = r.close(id).await;
    report.closed = closed.is_ok();
    if let Err(e) = closed {
        report
            .problems
            .push(format!("the incident could not be closed: {e}"));
    }
    // The figures of the report as it stands (the closed incident's records do not change).
    let figures = generate(d, id).await.map_err(at("the post-mortem"))?;
    report.fill_funds(&figures);
    let (md, html) = match published(&d.store, id).map_err(at("the post-mortem"))? {
        Some(p) => (p.markdown, p.html),
        None => (
            crate::incident::report::to_markdown(&figures),
            crate::incident::report::to_html(&figures),
        ),
    };
    let md_path = opts.dir.join("postmortem.md");
    let html_path = opts.dir.join("postmortem.html");
    std::fs::write(&md_path, md).map_err(at("writing the post-mortem"))?;
    std::fs::write(&html_path, html).map_err(at("writing the post-mortem"))?;
    report.report = Some(std::path::absolute(&md_path).unwrap_or(md_path));
    report.report_html = Some(std::path::absolute(&html_path).unwrap_or(html_path));
    if report.closed {
        progress.done(&format!(
            "checklist complete; incident {id} closed; its post-mortem published with the closing"
        ));
    }
    Ok(())
}

impl DemoReport {
    /// The durations, and the funds figures of the exploit's chain's native coin, from the
    /// report (the one definition of each, in `incident::report`).
    fn fill_funds(&mut self, report: &Report) {
        self.durations = Some(report.durations.clone());
        let Some(total) = report
            .funds_total
            .iter()
            .find(|f| f.chain == self.chain && f.token.is_none())
        else {
            return;
        };
        self.at_risk_wei = total.at_risk.base.clone();
        self.owed_wei = total.owed.as_ref().map(|o| o.base.clone());
        self.lost_wei = total.lost.base.clone();
        self.rescued_wei = total.rescued.base.clone();
        self.returned_wei = total.returned.base.clone();
        self.still_short_wei = total.still_short.base.clone();
    }

    /// Checks the report's "lost" against what the attacker's contract took beyond its deposit,
    /// measured on the chain by the drill itself.
    pub(super) fn check_lost(&mut self, measured: U256) {
        let reported = self.lost_wei.parse::<U256>().unwrap_or_default();
        if reported != measured {
            self.problems.push(format!(
                "the report's lost ({}) is not what the attacker's contract took beyond its deposit ({})",
                eth(reported),
                eth(measured)
            ));
        }
    }
}
