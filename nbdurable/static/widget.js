var rt=new Set(["completed","failed","cancelled","skipped","interrupted"]);function l(e){return typeof e=="number"&&Number.isFinite(e)?e:null}function u(e){return typeof e=="string"?e:typeof e=="number"&&Number.isFinite(e)?String(e):null}function $(e){return e<10?`0${e}`:String(e)}function k(e){if(e===null||!Number.isFinite(e))return"";let t=Math.max(0,e);if(t<1)return`${Math.round(t*1e3)} ms`;if(t<60)return`${(Math.floor(t*10)/10).toFixed(1)} s`;let r=Math.floor(t);return r<3600?`${Math.floor(r/60)}m ${$(r%60)}s`:r<86400?`${Math.floor(r/3600)}h ${$(Math.floor(r%3600/60))}m`:`${Math.floor(r/86400)}d ${$(Math.floor(r%86400/3600))}h`}function S(e,t=null){if(e===null||!Number.isFinite(e))return"";let r=new Date(e*1e3),n=`${$(r.getUTCHours())}:${$(r.getUTCMinutes())}:${$(r.getUTCSeconds())}`;return t!==null&&Number.isFinite(t)&&new Date(t*1e3).toISOString().slice(0,10)===r.toISOString().slice(0,10)?`${n} UTC`:`${r.toISOString().slice(0,10)} ${n} UTC`}function R(e,t){if(e===null||t===null)return"";let r=e-t;return r>=0?`in ${k(r)}`:`${k(-r)} ago`}function T(e){if(e===null||!Number.isFinite(e)||e<0)return"";if(e<1024)return`${Math.round(e)} B`;let t=["KiB","MiB","GiB","TiB"],r=e/1024,n=0;for(;r>=1024&&n<t.length-1;)r/=1024,n+=1;return`${r.toFixed(1)} ${t[n]}`}function N(e){return e===null?"unknown":e>=1?`$${e.toFixed(2)}`:`$${e.toFixed(4)}`}function P(e){if(!e||typeof e!="object"||Array.isArray(e))return"";let t=e,r=u(t.source);if(!r)return"";let n=u(t.as_of),o=[u(t.provider),u(t.model)].filter(Boolean).join(" ");return r+(n?`, as of ${n}`:"")+(o?` (${o})`:"")}function E(e){if(e===null)return"0";let t=e<0?"-":"",r=String(Math.round(Math.abs(e)));return t+r.replace(/\B(?=(\d{3})+(?!\d))/g,",")}function F(e){return new TextEncoder().encode(e).length}function A(e){return l(e.now)??l(e.ended_at)??l(e.started_at)}function L(e,t){let r=l(e.started_at);if(r===null)return null;let n=l(e.ended_at)??t;return n===null?null:Math.max(0,n-r)}function K(e,t){let r=l(e.started_at);if(r===null)return null;let n=l(e.ended_at)??t;return n===null?null:Math.max(0,n-r)}function C(e,t){let r=u(e.status)??"unknown",n=l(e.attempt),o=l(e.max_attempts);switch(r){case"completed":return e.replayed?"replayed":n!==null&&o!==null&&n>1?`completed (attempt ${n} of ${o})`:"completed";case"running":return n!==null&&o!==null&&n>1?`running (attempt ${n} of ${o})`:"running";case"retrying":{let a=n!==null&&o!==null?`retrying ${n} of ${o}`:"retrying",i=l(e.next_attempt_at);return i!==null&&t!==null&&i>t?`${a}, next ${R(i,t)}`:a}case"sleeping":{let a=l(e.sleep_until);return a===null?"sleeping":`sleeping until ${S(a,t)}`}case"waiting":{let a=u(e.wait_event);return a?`waiting for ${a}`:"waiting for an event"}case"failed":return n!==null&&o!==null&&o>1?`failed (attempt ${n} of ${o})`:"failed";case"cancelled":return"cancelled";default:return r}}function H(e){return u(e.status)??"unknown"}function j(e){return rt.has(u(e.run?.status)??"")}function O(e){if(typeof e=="string")return e;if(e==null)return"";try{return JSON.stringify(e,null,2)??""}catch{return String(e)}}function B(e,t=A(e.run??{})){let r=e.run??{},n=[],o=[],a=l(r.started_at);a!==null&&n.push(a);let i=l(r.ended_at)??t;i!==null&&o.push(i);for(let p of e.steps??[]){let g=l(p?.started_at);g!==null&&(n.push(g),o.push(g));let b=l(p?.ended_at);b!==null&&o.push(b)}if(n.length===0)return null;let c=Math.min(...n),d=Math.max(c,...o);return{start:c,span:Math.max(d-c,.001)}}function V(e,t,r){let n=l(e.started_at);if(t===null||n===null)return null;let o=l(e.ended_at)??r??n,a=d=>Math.min(100,Math.max(0,d)),i=a((n-t.start)/t.span*100),c=a((Math.max(o,n)-n)/t.span*100);return{left:z(i),width:z(Math.min(c,100-i))}}function z(e){return Math.round(e*100)/100}function U(e){let t=u(e.function_id)??"run",r=u(e.run_id);if(t.startsWith("cell:")){let n=t.slice(5);return{title:`%%durable ${n}`,runId:r===n?null:r}}return{title:t,runId:r}}function ot(e){let t=0,r=0;for(let n of e)!n||typeof n!="object"||u(n.kind)==="value"||(n.replayed?t+=1:l(n.started_at)!==null&&(r+=1));return{replayed:t,ran:r}}function J(e){let{replayed:t,ran:r}=ot(e);return t>0?`${E(t)} replayed \xB7 ${E(r)} ran`:""}function W(e,t){return(l(e.tokens_in)??0)>0||(l(e.tokens_out)??0)>0||(l(e.cost)??0)>0||t.some(r=>!!(r&&typeof r=="object"&&r.ai&&typeof r.ai=="object"))}function st(e){let t=null;for(let n of e)if(n&&typeof n=="object"&&n.replayed){let o=l(n.ended_at)??l(n.started_at);o!==null&&(t===null||o>t)&&(t=o)}if(t===null)return null;let r=null;for(let n of e)if(n&&typeof n=="object"&&!n.replayed&&u(n.kind)!=="value"){let o=l(n.started_at);o!==null&&o>=t&&(r===null||o<r)&&(r=o)}return r===null||r-t<1?null:{stopped:t,resumed:r}}function q(e,t){let r=st(e);return r===null?"":`Stopped ${S(r.stopped,t)}, resumed ${S(r.resumed,t)} (${k(r.resumed-r.stopped)} later)`}function G(e,t){let r=l(e?.attempt)??t+1,n=l(e?.started_at),o=l(e?.ended_at),a=n!==null&&o!==null?` after ${k(Math.max(0,o-n))}`:"",i=u(e?.error?.type)??"Error",c=u(e?.error?.message),d=l(e?.retry_at),p=d!==null&&o!==null?`; retried ${k(Math.max(0,d-o))} later`:"";return`Attempt ${r} failed${a}: ${c?`${i}: ${c}`:i}${p}`}var X="nbdurable-timeline-style",it=`
.nbd-timeline {
  --nbd-fg: var(--jp-ui-font-color1, var(--vscode-editor-foreground, #1f2328));
  --nbd-fg-muted: var(--jp-ui-font-color2, var(--vscode-descriptionForeground, #57606a));
  --nbd-bg: var(--jp-layout-color0, var(--vscode-editor-background, #ffffff));
  --nbd-bg-alt: var(--jp-layout-color2, rgba(127, 127, 127, 0.10));
  --nbd-border: var(--jp-border-color2, rgba(127, 127, 127, 0.35));
  --nbd-accent: var(--jp-brand-color1, #1976d2);
  --nbd-ok: var(--jp-success-color1, #2e7d32);
  --nbd-err: var(--jp-error-color1, #d32f2f);
  --nbd-warn: var(--jp-warn-color1, #ef6c00);
  --nbd-info: var(--jp-info-color1, #0288d1);
  --nbd-muted: var(--jp-layout-color4, #9e9e9e);
  --nbd-font: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  --nbd-mono: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace);
  font-family: var(--nbd-font);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--nbd-fg);
  background: var(--nbd-bg);
  border: 1px solid var(--nbd-border);
  border-radius: 4px;
  padding: 8px 10px;
  line-height: 1.4;
  box-sizing: border-box;
  max-width: 100%;
  overflow-x: auto;
}
.nbd-timeline *, .nbd-timeline *::before, .nbd-timeline *::after { box-sizing: border-box; }
.nbd-header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
.nbd-fn { font-weight: 600; font-size: 1.1em; }
.nbd-runid { font-family: var(--nbd-mono); color: var(--nbd-fg-muted); font-size: 0.9em; }
.nbd-badge {
  display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 0.85em; font-weight: 600;
  color: #fff; background: var(--nbd-muted); white-space: nowrap;
}
.nbd-badge[data-status="running"] { background: var(--nbd-accent); }
.nbd-badge[data-status="completed"] { background: var(--nbd-ok); }
.nbd-badge[data-status="failed"] { background: var(--nbd-err); }
.nbd-badge[data-status="sleeping"], .nbd-badge[data-status="waiting"], .nbd-badge[data-status="queued"] {
  background: var(--nbd-info);
}
.nbd-badge[data-status="interrupted"] { background: var(--nbd-warn); }
.nbd-stats { color: var(--nbd-fg-muted); display: flex; flex-wrap: wrap; gap: 2px 12px; width: 100%; }
.nbd-stats b { color: var(--nbd-fg); font-weight: 600; }
.nbd-reason { color: var(--nbd-fg-muted); font-style: italic; width: 100%; }
.nbd-warnings { margin: 6px 0 0; padding: 4px 8px; list-style: none; border-left: 3px solid var(--nbd-warn);
  background: var(--nbd-bg-alt); width: 100%; }
.nbd-warnings li { margin: 0; }
.nbd-run-error { margin-top: 6px; border-left: 3px solid var(--nbd-err); padding: 4px 8px; background: var(--nbd-bg-alt);
  width: 100%; }
.nbd-actions { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 8px; margin-top: 8px; }
.nbd-actions:empty { display: none; }
.nbd-wait { flex: 1 1 320px; border: 1px solid var(--nbd-info); border-radius: 4px; padding: 6px 8px; }
.nbd-wait-title { font-weight: 600; }
.nbd-wait textarea {
  display: block; width: 100%; min-height: 3.2em; margin: 4px 0; font-family: var(--nbd-mono); font-size: 0.95em;
  color: var(--nbd-fg); background: var(--jp-layout-color1, var(--nbd-bg)); border: 1px solid var(--nbd-border);
  border-radius: 3px; padding: 4px; resize: vertical;
}
.nbd-timeline button.nbd-btn {
  font: inherit; font-size: 0.95em; cursor: pointer; border-radius: 3px; padding: 2px 10px;
  border: 1px solid var(--nbd-border); background: var(--jp-layout-color2, var(--nbd-bg-alt)); color: var(--nbd-fg);
}
.nbd-timeline button.nbd-btn:hover:not(:disabled) { border-color: var(--nbd-accent); }
.nbd-timeline button.nbd-btn:disabled { opacity: 0.55; cursor: default; }
.nbd-timeline button.nbd-btn-primary { background: var(--nbd-accent); border-color: var(--nbd-accent); color: #fff; }
.nbd-timeline button.nbd-btn-danger { color: var(--nbd-err); border-color: var(--nbd-err); }
.nbd-notice { width: 100%; font-size: 0.95em; }
.nbd-notice[data-kind="error"] { color: var(--nbd-err); }
.nbd-notice[data-kind="ok"] { color: var(--nbd-ok); }
.nbd-notice[data-kind="stale"] { color: var(--nbd-warn); font-weight: 600; }
.nbd-timeline[data-stale="true"] .nbd-badge { background: var(--nbd-muted); }
.nbd-stat.nbd-replay { color: var(--nbd-fg); }
.nbd-field-error { color: var(--nbd-err); font-size: 0.9em; }
.nbd-grid { display: grid; grid-template-columns: 3em minmax(9em, 1.1fr) 3.5em minmax(14em, 1.5fr) 5em minmax(140px, 2.4fr);
  column-gap: 8px; align-items: center; }
.nbd-axis { margin-top: 8px; color: var(--nbd-fg-muted); font-size: 0.85em; border-bottom: 1px solid var(--nbd-border);
  padding-bottom: 2px; }
.nbd-ticks { position: relative; height: 1.3em; }
.nbd-tick { position: absolute; top: 0; transform: translateX(-50%); white-space: nowrap; }
.nbd-tick:first-child { transform: none; }
.nbd-tick:last-child { transform: translateX(-100%); }
.nbd-omitted { color: var(--nbd-fg-muted); font-style: italic; padding: 2px 0; }
.nbd-rows { display: flex; flex-direction: column; }
.nbd-step { border-bottom: 1px solid var(--nbd-border); }
.nbd-step:last-child { border-bottom: none; }
.nbd-timeline button.nbd-row {
  width: 100%; text-align: left; font: inherit; color: inherit; background: none; border: none; padding: 3px 0;
  cursor: pointer;
}
.nbd-timeline button.nbd-row:hover { background: var(--nbd-bg-alt); }
.nbd-timeline button.nbd-row:focus-visible { outline: 2px solid var(--nbd-accent); outline-offset: -2px; }
.nbd-pos { color: var(--nbd-fg-muted); text-align: right; font-variant-numeric: tabular-nums; }
.nbd-pos::before { content: "\u25B8"; display: inline-block; margin-right: 4px; transition: transform 0.1s; }
.nbd-step[data-open="true"] .nbd-pos::before { transform: rotate(90deg); }
.nbd-axis .nbd-pos::before { display: none; }
.nbd-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-weight: 500; }
.nbd-kind { font-family: var(--nbd-mono); font-size: 0.85em; color: var(--nbd-fg-muted); }
.nbd-status { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.nbd-dur { text-align: right; font-variant-numeric: tabular-nums; color: var(--nbd-fg-muted); white-space: nowrap; }
.nbd-track { position: relative; height: 12px; background: var(--nbd-bg-alt); border-radius: 2px; }
.nbd-bar { position: absolute; top: 1px; bottom: 1px; min-width: 3px; border-radius: 2px; background: var(--nbd-ok); }
.nbd-step[data-status="running"] .nbd-bar { background: var(--nbd-accent); animation: nbd-pulse 1.2s ease-in-out infinite; }
.nbd-step[data-status="failed"] .nbd-bar { background: var(--nbd-err); }
.nbd-step[data-status="retrying"] .nbd-bar { background: var(--nbd-warn); }
.nbd-step[data-status="sleeping"] .nbd-bar, .nbd-step[data-status="waiting"] .nbd-bar {
  background: repeating-linear-gradient(90deg, var(--nbd-info) 0 6px, transparent 6px 9px);
}
.nbd-step[data-status="cancelled"] .nbd-bar { background: var(--nbd-muted); }
.nbd-step[data-replayed="true"] .nbd-bar {
  background: repeating-linear-gradient(135deg, var(--nbd-ok) 0 4px, transparent 4px 7px);
  outline: 1px solid var(--nbd-ok);
}
.nbd-step[data-status="failed"] .nbd-status { color: var(--nbd-err); font-weight: 600; }
.nbd-step[data-status="retrying"] .nbd-status { color: var(--nbd-warn); font-weight: 600; }
.nbd-step[data-status="running"] .nbd-status { color: var(--nbd-accent); font-weight: 600; }
.nbd-step[data-status="sleeping"] .nbd-status, .nbd-step[data-status="waiting"] .nbd-status { color: var(--nbd-info); }
.nbd-step[data-replayed="true"] .nbd-name, .nbd-step[data-replayed="true"] .nbd-status { color: var(--nbd-fg-muted); }
.nbd-replayed-mark { display: inline-block; margin-right: 4px; padding: 0 3px; font-size: 0.85em; line-height: 1.2;
  border-radius: 3px; border: 1px solid var(--nbd-ok); color: var(--nbd-ok); font-weight: 700; }
.nbd-detail { padding: 4px 0 8px 2.9em; }
.nbd-detail[hidden] { display: none; }
.nbd-detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 4px; }
.nbd-detail dt { color: var(--nbd-fg-muted); font-weight: normal; white-space: nowrap; }
.nbd-detail dd { margin: 0; overflow-wrap: anywhere; }
.nbd-detail code { font-family: var(--nbd-mono); font-size: 0.95em; }
.nbd-timeline pre {
  font-family: var(--nbd-mono); font-size: 0.9em; margin: 2px 0 6px; padding: 4px 6px; max-height: 20em; overflow: auto;
  white-space: pre-wrap; overflow-wrap: anywhere; background: var(--nbd-bg-alt); border-radius: 3px; color: var(--nbd-fg);
}
.nbd-section-title { font-weight: 600; margin-top: 4px; }
.nbd-attempts { margin: 2px 0 6px; padding-left: 1.6em; color: var(--nbd-fg-muted); }
.nbd-note { color: var(--nbd-fg-muted); font-size: 0.9em; font-weight: normal; }
.nbd-error-title { color: var(--nbd-err); font-weight: 600; }
.nbd-empty { color: var(--nbd-fg-muted); font-style: italic; padding: 4px 0; }
@keyframes nbd-pulse { 0%, 100% { opacity: 1; } 50% { opacity: 0.55; } }
@media (prefers-reduced-motion: reduce) { .nbd-step[data-status="running"] .nbd-bar { animation: none; } }
`;function Y(e){if(e.getElementById(X))return;let t=e.createElement("style");t.id=X,t.textContent=it,(e.head??e.documentElement).appendChild(t)}var at={};function Q(e){if(typeof e!="object"||e===null||Array.isArray(e))return{snapshot:{},newer:null};let t=e,r=t.version,n=typeof r=="number"&&Number.isInteger(r)&&r>=1?r:1;if(n>1)return{snapshot:t,newer:n};for(;n<1;){let o=at[n];t=o?o(t):t,n+=1}return{snapshot:{...t,version:n},newer:null}}function s(e,t,r={},n=[]){let o=e.createElement(t);for(let[a,i]of Object.entries(r))i===void 0||i===!1||o.setAttribute(a,i===!0?"":i);for(let a of n)a==null||a===!1||o.appendChild(typeof a=="string"?e.createTextNode(a):a);return o}var lt=0,I=class{constructor(t,r={}){this.snapshot={};this.newerVersion=null;this.receivedAt=0;this.open=new Set;this.rows=new Map;this.actionsKey=null;this.timer=null;this.disposed=!1;this.staleReason=null;this.staleAt=null;this.doc=t.ownerDocument,this.options=r,this.id=`nbd-${++lt}`,Y(this.doc);let n=this.doc;this.headerEl=s(n,"div",{class:"nbd-header"}),this.actionsEl=s(n,"div",{class:"nbd-actions"}),this.noticeEl=s(n,"div",{class:"nbd-notice",role:"status",hidden:!0}),this.axisEl=s(n,"div",{class:"nbd-axis nbd-grid","aria-hidden":"true"}),this.omittedEl=s(n,"div",{class:"nbd-omitted",hidden:!0}),this.rowsEl=s(n,"div",{class:"nbd-rows",role:"list"}),this.node=s(n,"div",{class:"nbd-timeline","data-host":r.host??"view"},[this.headerEl,this.actionsEl,this.noticeEl,this.axisEl,this.omittedEl,this.rowsEl]),t.appendChild(this.node)}update(t){if(this.disposed)return;let r=Q(t);this.snapshot=r.snapshot,this.newerVersion=r.newer,this.receivedAt=this.clock(),this.render(),this.syncTimer()}setNotice(t,r="info"){if(!(this.staleReason!==null&&r!=="stale")&&(this.noticeEl.textContent=t,this.noticeEl.setAttribute("data-kind",r),this.noticeEl.hidden=t==="",r==="ok"||r==="error"))for(let n of Array.from(this.actionsEl.querySelectorAll("button")))n.disabled=!1}markStale(t){this.disposed||(this.staleReason===null&&(this.staleAt=this.now()),this.staleReason=t,this.node.setAttribute("data-stale","true"),this.actionsKey=null,this.render(),this.syncTimer(),this.setNotice(t,"stale"))}get stale(){return this.staleReason!==null}currentTime(){return this.now()}dispose(){this.disposed=!0,this.timer!==null&&(clearInterval(this.timer),this.timer=null),this.node.remove()}clock(){return this.options.clock?this.options.clock():Date.now()/1e3}now(){if(this.staleAt!==null)return this.staleAt;let t=this.snapshot.run??{},r=A(t);return r===null||!this.options.live||j(this.snapshot)||l(t.now)===null?r:r+Math.max(0,this.clock()-this.receivedAt)}syncTimer(){let t=!!this.options.live&&!j(this.snapshot)&&this.staleReason===null;t&&this.timer===null?this.timer=setInterval(()=>this.render(),1e3):!t&&this.timer!==null&&(clearInterval(this.timer),this.timer=null)}render(){let t=this.snapshot.run??{},r=this.now();this.node.setAttribute("data-status",H(t)),this.renderHeader(t,r),this.renderActions(t),this.renderAxis(r);let n=l(this.snapshot.steps_omitted)??0;this.omittedEl.hidden=n<=0,this.omittedEl.textContent=n>0?`\u2026 ${E(n)} earlier step${n===1?"":"s"} not shown`:"",this.renderRows(r)}renderHeader(t,r){let n=this.doc,o=H(t),a=(h,w)=>s(n,"span",{class:"nbd-stat"},[`${h} `,s(n,"b",{},[w])]),i=l(t.steps_done)??0,c=l(t.steps_total)??i,d=(Array.isArray(this.snapshot.steps)?this.snapshot.steps:[]).filter(h=>!!h&&typeof h=="object"),{title:p,runId:g}=U(t),b=J(d),v=W(t,d),f=[s(n,"span",{class:"nbd-fn"},[p]),g!==null?s(n,"span",{class:"nbd-runid",title:"run id"},[g]):null,s(n,"span",{class:"nbd-badge","data-status":o},[o]),s(n,"div",{class:"nbd-stats"},[a("elapsed",k(K(t,r))||"-"),a("steps",`${E(i)} / ${E(c)}`),b?s(n,"span",{class:"nbd-stat nbd-replay"},[b]):null,v?a("tokens",`${E(l(t.tokens_in))} in / ${E(l(t.tokens_out))} out`):null,v?a("cost",N(l(t.cost))):null,l(t.started_at)!==null?a("started",S(l(t.started_at),r)):null])],x=q(d,r);x&&f.push(s(n,"div",{class:"nbd-reason nbd-gap"},[x])),this.newerVersion!==null&&f.push(s(n,"div",{class:"nbd-reason nbd-newer"},[`Saved by a newer nbdurable (timeline format ${this.newerVersion}); this view may leave some of it out. Update nbdurable to see all of it.`]));let _=u(t.status_reason);_&&f.push(s(n,"div",{class:"nbd-reason"},[_]));let m=t.waiting_for;m&&!(this.options.onAction&&this.snapshot.actions?.send_event)&&f.push(s(n,"div",{class:"nbd-reason"},[Z(m.event,m.if_exp,m.timeout_at,r)]));let y=Array.isArray(t.warnings)?t.warnings:[];if(y.length>0&&f.push(s(n,"ul",{class:"nbd-warnings","aria-label":"determinism warnings"},y.map(h=>{let w=u(h?.step_id);return s(n,"li",{},[`\u26A0 ${u(h?.message)??""}`,w?s(n,"span",{class:"nbd-note"},[` (step ${w})`]):null])}))),t.error){let h=u(t.error.step_id),w=h!==null&&d.some(D=>u(D.step_id)===h&&D.error),M=tt(n,t.error,!w);w&&M.push(s(n,"div",{class:"nbd-note"},[`in step ${h}: open it for the traceback`])),f.push(s(n,"div",{class:"nbd-run-error"},M))}this.headerEl.replaceChildren(...f.filter(h=>h instanceof Node))}renderActions(t){let r=this.options.onAction,n=this.snapshot.actions??{},o=t.waiting_for??null,a=JSON.stringify([!!r,n,o,t.status,this.staleReason]);if(a===this.actionsKey)return;this.actionsKey=a;let i=this.doc,c=[];if(r&&o&&n.send_event){let d=u(o.event)??"",p=`${this.id}-payload`,g=s(i,"textarea",{id:p,class:"nbd-payload",spellcheck:"false","aria-label":`JSON payload for ${d}`});g.value=o.suggested_data?JSON.stringify(o.suggested_data):"{}";let b=s(i,"div",{class:"nbd-field-error",hidden:!0}),v=s(i,"button",{class:"nbd-btn nbd-btn-primary nbd-send",type:"button"},[`Approve: send ${d}`]);v.addEventListener("click",()=>{let f;try{f=g.value.trim()===""?{}:JSON.parse(g.value)}catch(x){b.textContent=`The payload is not valid JSON: ${x.message}`,b.hidden=!1;return}b.hidden=!0,v.disabled=!0,this.setNotice(`Sending ${d}\u2026`,"info"),r({action:"send_event",event:d,data:f,step_id:u(o.step_id)})}),c.push(s(i,"div",{class:"nbd-wait"},[s(i,"div",{class:"nbd-wait-title"},[Z(o.event,o.if_exp,o.timeout_at,A(t),!1)]),s(i,"label",{for:p,class:"nbd-note"},["Event data (JSON)"]),g,b,v]))}if(r&&n.cancel){let d=s(i,"button",{class:"nbd-btn nbd-btn-danger nbd-cancel",type:"button"},["Cancel run"]);d.addEventListener("click",()=>{d.disabled=!0,this.setNotice("Cancelling\u2026","info"),r({action:"cancel"})}),c.push(d)}if(this.staleReason!==null)for(let d of c.flatMap(p=>[p,...Array.from(p.querySelectorAll("button, textarea"))]))(d.tagName==="BUTTON"||d.tagName==="TEXTAREA")&&(d.disabled=!0);this.actionsEl.replaceChildren(...c)}renderAxis(t){let r=this.doc,n=B(this.snapshot,t);if(n===null||(this.snapshot.steps??[]).length===0){this.axisEl.hidden=!0;return}this.axisEl.hidden=!1;let o=[0,.25,.5,.75,1].map(a=>{let i=a===0?"0":`+${k(n.span*a)}`;return s(r,"span",{class:"nbd-tick",style:`left:${a*100}%`},[i])});this.axisEl.replaceChildren(s(r,"span",{class:"nbd-pos"},["#"]),s(r,"span",{},["step"]),s(r,"span",{},["kind"]),s(r,"span",{},["status"]),s(r,"span",{class:"nbd-dur"},["duration"]),s(r,"div",{class:"nbd-ticks"},o))}renderRows(t){let r=this.doc,n=Array.isArray(this.snapshot.steps)?this.snapshot.steps:[],o=B(this.snapshot,t),a=!!(this.options.onAction&&this.snapshot.actions?.rerun)&&this.staleReason===null,i=new Set,c=[];n.forEach((d,p)=>{let g=d&&typeof d=="object"?d:{},b=u(g.step_id)??`#${p}`;i.has(b)&&(b=`${b}#${p}`),i.add(b);let v=this.rows.get(b)??this.createRow(b);this.rows.set(b,v),this.fillRow(v,b,g,p,o,t,a),c.push(v.step)});for(let[d,p]of this.rows)i.has(d)||(p.step.remove(),this.rows.delete(d));if(c.forEach((d,p)=>{this.rowsEl.children[p]!==d&&this.rowsEl.insertBefore(d,this.rowsEl.children[p]??null)}),n.length===0)this.rowsEl.replaceChildren(s(r,"div",{class:"nbd-empty"},["No steps yet."]));else for(let d of Array.from(this.rowsEl.children).slice(c.length))d.remove()}createRow(t){let r=this.doc,n=`${this.id}-d-${this.rows.size}-${Math.random().toString(36).slice(2,8)}`,o=s(r,"button",{class:"nbd-row nbd-grid",type:"button","aria-expanded":"false","aria-controls":n}),a=s(r,"div",{class:"nbd-detail",id:n,hidden:!0}),c={step:s(r,"div",{class:"nbd-step",role:"listitem"},[o,a]),row:o,detail:a,detailKey:""};return o.addEventListener("click",()=>{this.open.has(t)?this.open.delete(t):this.open.add(t),this.render()}),c}fillRow(t,r,n,o,a,i,c){let d=this.doc,p=u(n.status)??"unknown",g=!!n.replayed,b=u(n.name)??u(n.step_id)??`step ${o+1}`,v=C(n,i),f=l(n.position);t.step.setAttribute("data-status",p),t.step.setAttribute("data-replayed",String(g)),t.step.setAttribute("data-step-id",u(n.step_id)??"");let x=V(n,a,i),_=this.open.has(r);if(t.step.setAttribute("data-open",String(_)),t.row.setAttribute("aria-expanded",String(_)),t.row.title=`${b}: ${v}`,t.row.replaceChildren(s(d,"span",{class:"nbd-pos"},[String(f!==null?f+1:o+1)]),s(d,"span",{class:"nbd-name"},[g?s(d,"span",{class:"nbd-replayed-mark",title:"replayed from the journal","aria-label":"replayed"},["\u21BA"]):null,b]),s(d,"span",{class:"nbd-kind"},[u(n.kind)??""]),s(d,"span",{class:"nbd-status"},[v]),s(d,"span",{class:"nbd-dur"},[k(L(n,i))]),s(d,"span",{class:"nbd-track"},[x?s(d,"span",{class:"nbd-bar",style:`left:${x.left}%;width:${x.width}%`}):null])),t.detail.hidden=!_,!_)return;let m=JSON.stringify([n,c]);m!==t.detailKey&&(t.detailKey=m,t.detail.replaceChildren(...this.buildDetail(n,c)))}buildDetail(t,r){let n=this.doc,o=A(this.snapshot.run??{}),a=[],i=(m,y)=>{y!==null&&y!==""&&a.push([m,y])};i("step id",s(n,"code",{},[u(t.step_id)??""])),i("kind",u(t.kind)),i("status",C(t,o)+(t.replayed?" (from the journal)":""));let c=l(t.attempt),d=l(t.max_attempts);c!==null&&i("attempts",d!==null?`${c} of ${d}`:String(c)),i("started",S(l(t.started_at),o)),i("ended",S(l(t.ended_at),o)),l(t.ended_at)!==null&&i("duration",k(L(t,o))),i("next attempt",S(l(t.next_attempt_at),o)),i("sleeps until",S(l(t.sleep_until),o)),i("waits for",u(t.wait_event)),i("idempotency key",t.idempotency_key?s(n,"code",{class:"nbd-idem"},[u(t.idempotency_key)??""]):null);let p=[s(n,"dl",{},a.flatMap(([m,y])=>[s(n,"dt",{},[m]),s(n,"dd",{},[y])]))],g=u(t.input_preview);g!==null&&g!==""&&p.push(s(n,"div",{class:"nbd-section-title"},["Input"]),s(n,"pre",{class:"nbd-input"},[g]));let b=u(t.output_preview);if(b!==null){let m=l(t.output_size),y=F(b),h="";m!==null&&m>y?h=` (truncated: first ${T(y)} of ${T(m)})`:m!==null&&(h=` (${T(m)})`),p.push(s(n,"div",{class:"nbd-section-title"},["Output",s(n,"span",{class:"nbd-note"},[h])]),s(n,"pre",{class:"nbd-output"},[b]))}let v=Array.isArray(t.attempts)?t.attempts:[];v.length>0&&p.push(s(n,"div",{class:"nbd-section-title"},["Failed attempts"]),s(n,"ol",{class:"nbd-attempts"},v.map((m,y)=>s(n,"li",{},[G(m,y)])))),t.error&&p.push(s(n,"div",{class:"nbd-step-error"},tt(n,t.error)));let f=t.ai;if(f&&typeof f=="object"){let m=[["model",[u(f.model),u(f.provider)?`(${u(f.provider)})`:null].filter(Boolean).join(" ")],["tokens",`${E(l(f.tokens_in))} in / ${E(l(f.tokens_out))} out`],["latency",k(l(f.latency))],["cost",N(l(f.cost))],["price",P(f.price)]];p.push(s(n,"div",{class:"nbd-section-title"},["AI call"]),s(n,"dl",{class:"nbd-ai"},m.filter(([,w])=>w!=="").flatMap(([w,M])=>[s(n,"dt",{},[w]),s(n,"dd",{},[M])])));let y=O(f.request);y&&p.push(s(n,"div",{class:"nbd-section-title"},["Prompt"]),s(n,"pre",{class:"nbd-ai-request"},[y]));let h=O(f.response);h&&p.push(s(n,"div",{class:"nbd-section-title"},["Response"]),s(n,"pre",{class:"nbd-ai-response"},[h]))}let x=u(t.step_id),_=this.options.onAction;if(r&&_&&x){let m=s(n,"button",{class:"nbd-btn nbd-rerun",type:"button"},["Rerun from this step"]);m.addEventListener("click",()=>{m.disabled=!0,this.setNotice(`Rerunning from ${x}\u2026`,"info"),_({action:"rerun",step_id:x})}),p.push(s(n,"div",{},[m]))}return p}};function Z(e,t,r,n,o=!0){let a=`Waiting for event ${u(e)??"?"}`,i=u(t);i&&(a+=` where ${i}`);let c=l(r);if(c!==null){a+=`, times out ${S(c,n)}`;let d=o?R(c,n):"";d&&(a+=` (${d})`)}return a}function tt(e,t,r=!0){let n=u(t.type)??"Error",o=u(t.message)??"",a=[s(e,"div",{class:"nbd-error-title"},[o?`${n}: ${o}`:n])],i=u(t.traceback),c=u(t.user_traceback);return!r||!i||(a.push(s(e,"pre",{class:"nbd-traceback"},[c||i])),c&&c!==i&&a.push(s(e,"details",{class:"nbd-full-traceback"},[s(e,"summary",{},["Full traceback (nbdurable's frames included)"]),s(e,"pre",{class:"nbd-traceback-full"},[i])]))),a}var nt="nbdurable:snapshot",et="Kernel stopped: run the cell again to resume.";function dt(e){return typeof e=="object"&&e!==null&&e.type==="action_result"&&typeof e.message=="string"}function ut({model:e,el:t}){let r=new I(t,{host:"widget",live:!0,onAction:i=>e.send(i)}),n=()=>{let i=e.get("snapshot");r.update(i),t.dispatchEvent(new CustomEvent(nt,{bubbles:!0,detail:i}))},o=i=>{dt(i)&&r.setNotice(i.message,i.ok?"ok":"error")},a=()=>r.markStale(et);return e.on("change:snapshot",n),e.on("msg:custom",o),e.on("comm_live_update",a),e.on("comm:close",a),n(),e.send({type:"rendered"}),()=>{e.off("change:snapshot",n),e.off("msg:custom",o),e.off("comm_live_update",a),e.off("comm:close",a),r.dispose()}}var wt={render:ut};export{wt as default,ut as render};
