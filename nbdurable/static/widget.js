var G=new Set(["completed","failed","cancelled","skipped","interrupted"]);function l(e){return typeof e=="number"&&Number.isFinite(e)?e:null}function u(e){return typeof e=="string"?e:typeof e=="number"&&Number.isFinite(e)?String(e):null}function S(e){return e<10?`0${e}`:String(e)}function w(e){if(e===null||!Number.isFinite(e))return"";let n=Math.max(0,e);if(n<1)return`${Math.round(n*1e3)} ms`;if(n<60)return`${(Math.floor(n*10)/10).toFixed(1)} s`;let r=Math.floor(n);return r<3600?`${Math.floor(r/60)}m ${S(r%60)}s`:r<86400?`${Math.floor(r/3600)}h ${S(Math.floor(r%3600/60))}m`:`${Math.floor(r/86400)}d ${S(Math.floor(r%86400/3600))}h`}function y(e,n=null){if(e===null||!Number.isFinite(e))return"";let r=new Date(e*1e3),t=`${S(r.getUTCHours())}:${S(r.getUTCMinutes())}:${S(r.getUTCSeconds())}`;return n!==null&&Number.isFinite(n)&&new Date(n*1e3).toISOString().slice(0,10)===r.toISOString().slice(0,10)?`${t} UTC`:`${r.toISOString().slice(0,10)} ${t} UTC`}function T(e,n){if(e===null||n===null)return"";let r=e-n;return r>=0?`in ${w(r)}`:`${w(-r)} ago`}function $(e){if(e===null||!Number.isFinite(e)||e<0)return"";if(e<1024)return`${Math.round(e)} B`;let n=["KiB","MiB","GiB","TiB"],r=e/1024,t=0;for(;r>=1024&&t<n.length-1;)r/=1024,t+=1;return`${r.toFixed(1)} ${n[t]}`}function I(e){return e===null?"unknown":e>=1?`$${e.toFixed(2)}`:`$${e.toFixed(4)}`}function B(e){if(!e||typeof e!="object"||Array.isArray(e))return"";let n=e,r=u(n.source);if(!r)return"";let t=u(n.as_of),s=[u(n.provider),u(n.model)].filter(Boolean).join(" ");return r+(t?`, as of ${t}`:"")+(s?` (${s})`:"")}function k(e){if(e===null)return"0";let n=e<0?"-":"",r=String(Math.round(Math.abs(e)));return n+r.replace(/\B(?=(\d{3})+(?!\d))/g,",")}function z(e){return new TextEncoder().encode(e).length}function E(e){return l(e.now)??l(e.ended_at)??l(e.started_at)}function R(e,n){let r=l(e.started_at);if(r===null)return null;let t=l(e.ended_at)??n;return t===null?null:Math.max(0,t-r)}function D(e,n){let r=l(e.started_at);if(r===null)return null;let t=l(e.ended_at)??n;return t===null?null:Math.max(0,t-r)}function N(e,n){let r=u(e.status)??"unknown",t=l(e.attempt),s=l(e.max_attempts);switch(r){case"completed":return e.replayed?"replayed":"completed";case"running":return t!==null&&s!==null&&t>1?`running (attempt ${t} of ${s})`:"running";case"retrying":{let i=t!==null&&s!==null?`retrying ${t} of ${s}`:"retrying",a=l(e.next_attempt_at);return a!==null&&n!==null&&a>n?`${i}, next ${T(a,n)}`:i}case"sleeping":{let i=l(e.sleep_until);return i===null?"sleeping":`sleeping until ${y(i,n)}`}case"waiting":{let i=u(e.wait_event);return i?`waiting for ${i}`:"waiting for an event"}case"failed":return t!==null&&s!==null&&s>1?`failed (attempt ${t} of ${s})`:"failed";case"cancelled":return"cancelled";default:return r}}function L(e){return u(e.status)??"unknown"}function C(e){return G.has(u(e.run?.status)??"")}function H(e){if(typeof e=="string")return e;if(e==null)return"";try{return JSON.stringify(e,null,2)??""}catch{return String(e)}}function j(e){let n=e.run??{},r=E(n),t=[],s=[],i=l(n.started_at);i!==null&&t.push(i);let a=l(n.ended_at)??r;a!==null&&s.push(a);for(let b of e.steps??[]){let m=l(b?.started_at);m!==null&&(t.push(m),s.push(m));let f=l(b?.ended_at);f!==null&&s.push(f)}if(t.length===0)return null;let p=Math.min(...t),d=Math.max(p,...s);return{start:p,span:Math.max(d-p,.001)}}function F(e,n,r){let t=l(e.started_at);if(n===null||t===null)return null;let s=l(e.ended_at)??r??t,i=d=>Math.min(100,Math.max(0,d)),a=i((t-n.start)/n.span*100),p=i((Math.max(s,t)-t)/n.span*100);return{left:O(a),width:O(Math.min(p,100-a))}}function O(e){return Math.round(e*100)/100}var P="nbdurable-timeline-style",X=`
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
.nbd-note { color: var(--nbd-fg-muted); font-size: 0.9em; font-weight: normal; }
.nbd-error-title { color: var(--nbd-err); font-weight: 600; }
.nbd-empty { color: var(--nbd-fg-muted); font-style: italic; padding: 4px 0; }
@keyframes nbd-pulse { 0%, 100% { opacity: 1; } 50% { opacity: 0.55; } }
@media (prefers-reduced-motion: reduce) { .nbd-step[data-status="running"] .nbd-bar { animation: none; } }
`;function K(e){if(e.getElementById(P))return;let n=e.createElement("style");n.id=P,n.textContent=X,(e.head??e.documentElement).appendChild(n)}var Y={};function V(e){if(typeof e!="object"||e===null||Array.isArray(e))return{snapshot:{},newer:null};let n=e,r=n.version,t=typeof r=="number"&&Number.isInteger(r)&&r>=1?r:1;if(t>1)return{snapshot:n,newer:t};for(;t<1;){let s=Y[t];n=s?s(n):n,t+=1}return{snapshot:{...n,version:t},newer:null}}function o(e,n,r={},t=[]){let s=e.createElement(n);for(let[i,a]of Object.entries(r))a===void 0||a===!1||s.setAttribute(i,a===!0?"":a);for(let i of t)i==null||i===!1||s.appendChild(typeof i=="string"?e.createTextNode(i):i);return s}var Q=0,M=class{constructor(n,r={}){this.snapshot={};this.newerVersion=null;this.receivedAt=0;this.open=new Set;this.rows=new Map;this.actionsKey=null;this.timer=null;this.disposed=!1;this.doc=n.ownerDocument,this.options=r,this.id=`nbd-${++Q}`,K(this.doc);let t=this.doc;this.headerEl=o(t,"div",{class:"nbd-header"}),this.actionsEl=o(t,"div",{class:"nbd-actions"}),this.noticeEl=o(t,"div",{class:"nbd-notice",role:"status",hidden:!0}),this.axisEl=o(t,"div",{class:"nbd-axis nbd-grid","aria-hidden":"true"}),this.omittedEl=o(t,"div",{class:"nbd-omitted",hidden:!0}),this.rowsEl=o(t,"div",{class:"nbd-rows",role:"list"}),this.node=o(t,"div",{class:"nbd-timeline","data-host":r.host??"view"},[this.headerEl,this.actionsEl,this.noticeEl,this.axisEl,this.omittedEl,this.rowsEl]),n.appendChild(this.node)}update(n){if(this.disposed)return;let r=V(n);this.snapshot=r.snapshot,this.newerVersion=r.newer,this.receivedAt=this.clock(),this.render(),this.syncTimer()}setNotice(n,r="info"){if(this.noticeEl.textContent=n,this.noticeEl.setAttribute("data-kind",r),this.noticeEl.hidden=n==="",r!=="info")for(let t of Array.from(this.actionsEl.querySelectorAll("button")))t.disabled=!1}dispose(){this.disposed=!0,this.timer!==null&&(clearInterval(this.timer),this.timer=null),this.node.remove()}clock(){return this.options.clock?this.options.clock():Date.now()/1e3}now(){let n=this.snapshot.run??{},r=E(n);return r===null||!this.options.live||C(this.snapshot)||l(n.now)===null?r:r+Math.max(0,this.clock()-this.receivedAt)}syncTimer(){let n=!!this.options.live&&!C(this.snapshot);n&&this.timer===null?this.timer=setInterval(()=>this.render(),1e3):!n&&this.timer!==null&&(clearInterval(this.timer),this.timer=null)}render(){let n=this.snapshot.run??{},r=this.now();this.node.setAttribute("data-status",L(n)),this.renderHeader(n,r),this.renderActions(n),this.renderAxis();let t=l(this.snapshot.steps_omitted)??0;this.omittedEl.hidden=t<=0,this.omittedEl.textContent=t>0?`\u2026 ${k(t)} earlier step${t===1?"":"s"} not shown`:"",this.renderRows(r)}renderHeader(n,r){let t=this.doc,s=L(n),i=(c,h)=>o(t,"span",{class:"nbd-stat"},[`${c} `,o(t,"b",{},[h])]),a=l(n.steps_done)??0,p=l(n.steps_total)??a,d=[o(t,"span",{class:"nbd-fn"},[u(n.function_id)??"run"]),o(t,"span",{class:"nbd-runid",title:"run id"},[u(n.run_id)??""]),o(t,"span",{class:"nbd-badge","data-status":s},[s]),o(t,"div",{class:"nbd-stats"},[i("elapsed",w(D(n,r))||"-"),i("steps",`${k(a)} / ${k(p)}`),i("tokens",`${k(l(n.tokens_in))} in / ${k(l(n.tokens_out))} out`),i("cost",I(l(n.cost))),l(n.started_at)!==null?i("started",y(l(n.started_at),r)):null])];this.newerVersion!==null&&d.push(o(t,"div",{class:"nbd-reason nbd-newer"},[`Saved by a newer nbdurable (timeline format ${this.newerVersion}); this view may leave some of it out. Update nbdurable to see all of it.`]));let b=u(n.status_reason);b&&d.push(o(t,"div",{class:"nbd-reason"},[b]));let m=n.waiting_for;m&&!(this.options.onAction&&this.snapshot.actions?.send_event)&&d.push(o(t,"div",{class:"nbd-reason"},[U(m.event,m.if_exp,m.timeout_at,r)]));let f=Array.isArray(n.warnings)?n.warnings:[];f.length>0&&d.push(o(t,"ul",{class:"nbd-warnings","aria-label":"determinism warnings"},f.map(c=>{let h=u(c?.step_id);return o(t,"li",{},[`\u26A0 ${u(c?.message)??""}`,h?o(t,"span",{class:"nbd-note"},[` (step ${h})`]):null])}))),n.error&&d.push(o(t,"div",{class:"nbd-run-error"},J(t,n.error))),this.headerEl.replaceChildren(...d.filter(c=>c instanceof Node))}renderActions(n){let r=this.options.onAction,t=this.snapshot.actions??{},s=n.waiting_for??null,i=JSON.stringify([!!r,t,s,n.status]);if(i===this.actionsKey)return;this.actionsKey=i;let a=this.doc,p=[];if(r&&s&&t.send_event){let d=u(s.event)??"",b=`${this.id}-payload`,m=o(a,"textarea",{id:b,class:"nbd-payload",spellcheck:"false","aria-label":`JSON payload for ${d}`});m.value=s.suggested_data?JSON.stringify(s.suggested_data):"{}";let f=o(a,"div",{class:"nbd-field-error",hidden:!0}),c=o(a,"button",{class:"nbd-btn nbd-btn-primary nbd-send",type:"button"},[`Approve: send ${d}`]);c.addEventListener("click",()=>{let h;try{h=m.value.trim()===""?{}:JSON.parse(m.value)}catch(x){f.textContent=`The payload is not valid JSON: ${x.message}`,f.hidden=!1;return}f.hidden=!0,c.disabled=!0,this.setNotice(`Sending ${d}\u2026`,"info"),r({action:"send_event",event:d,data:h,step_id:u(s.step_id)})}),p.push(o(a,"div",{class:"nbd-wait"},[o(a,"div",{class:"nbd-wait-title"},[U(s.event,s.if_exp,s.timeout_at,E(n),!1)]),o(a,"label",{for:b,class:"nbd-note"},["Event data (JSON)"]),m,f,c]))}if(r&&t.cancel){let d=o(a,"button",{class:"nbd-btn nbd-btn-danger nbd-cancel",type:"button"},["Cancel run"]);d.addEventListener("click",()=>{d.disabled=!0,this.setNotice("Cancelling\u2026","info"),r({action:"cancel"})}),p.push(d)}this.actionsEl.replaceChildren(...p)}renderAxis(){let n=this.doc,r=j(this.snapshot);if(r===null||(this.snapshot.steps??[]).length===0){this.axisEl.hidden=!0;return}this.axisEl.hidden=!1;let t=[0,.25,.5,.75,1].map(s=>{let i=s===0?"0":`+${w(r.span*s)}`;return o(n,"span",{class:"nbd-tick",style:`left:${s*100}%`},[i])});this.axisEl.replaceChildren(o(n,"span",{class:"nbd-pos"},["#"]),o(n,"span",{},["step"]),o(n,"span",{},["kind"]),o(n,"span",{},["status"]),o(n,"span",{class:"nbd-dur"},["duration"]),o(n,"div",{class:"nbd-ticks"},t))}renderRows(n){let r=this.doc,t=Array.isArray(this.snapshot.steps)?this.snapshot.steps:[],s=j(this.snapshot),i=!!(this.options.onAction&&this.snapshot.actions?.rerun),a=new Set,p=[];t.forEach((d,b)=>{let m=d&&typeof d=="object"?d:{},f=u(m.step_id)??`#${b}`;a.has(f)&&(f=`${f}#${b}`),a.add(f);let c=this.rows.get(f)??this.createRow(f);this.rows.set(f,c),this.fillRow(c,f,m,b,s,n,i),p.push(c.step)});for(let[d,b]of this.rows)a.has(d)||(b.step.remove(),this.rows.delete(d));if(p.forEach((d,b)=>{this.rowsEl.children[b]!==d&&this.rowsEl.insertBefore(d,this.rowsEl.children[b]??null)}),t.length===0)this.rowsEl.replaceChildren(o(r,"div",{class:"nbd-empty"},["No steps yet."]));else for(let d of Array.from(this.rowsEl.children).slice(p.length))d.remove()}createRow(n){let r=this.doc,t=`${this.id}-d-${this.rows.size}-${Math.random().toString(36).slice(2,8)}`,s=o(r,"button",{class:"nbd-row nbd-grid",type:"button","aria-expanded":"false","aria-controls":t}),i=o(r,"div",{class:"nbd-detail",id:t,hidden:!0}),p={step:o(r,"div",{class:"nbd-step",role:"listitem"},[s,i]),row:s,detail:i,detailKey:""};return s.addEventListener("click",()=>{this.open.has(n)?this.open.delete(n):this.open.add(n),this.render()}),p}fillRow(n,r,t,s,i,a,p){let d=this.doc,b=u(t.status)??"unknown",m=!!t.replayed,f=u(t.name)??u(t.step_id)??`step ${s+1}`,c=N(t,a),h=l(t.position);n.step.setAttribute("data-status",b),n.step.setAttribute("data-replayed",String(m)),n.step.setAttribute("data-step-id",u(t.step_id)??"");let x=F(t,i,a),g=this.open.has(r);if(n.step.setAttribute("data-open",String(g)),n.row.setAttribute("aria-expanded",String(g)),n.row.title=`${f}: ${c}`,n.row.replaceChildren(o(d,"span",{class:"nbd-pos"},[String(h!==null?h+1:s+1)]),o(d,"span",{class:"nbd-name"},[m?o(d,"span",{class:"nbd-replayed-mark",title:"replayed from the journal","aria-label":"replayed"},["\u21BA"]):null,f]),o(d,"span",{class:"nbd-kind"},[u(t.kind)??""]),o(d,"span",{class:"nbd-status"},[c]),o(d,"span",{class:"nbd-dur"},[w(R(t,a))]),o(d,"span",{class:"nbd-track"},[x?o(d,"span",{class:"nbd-bar",style:`left:${x.left}%;width:${x.width}%`}):null])),n.detail.hidden=!g,!g)return;let v=JSON.stringify([t,p]);v!==n.detailKey&&(n.detailKey=v,n.detail.replaceChildren(...this.buildDetail(t,p)))}buildDetail(n,r){let t=this.doc,s=E(this.snapshot.run??{}),i=[],a=(g,v)=>{v!==null&&v!==""&&i.push([g,v])};a("step id",o(t,"code",{},[u(n.step_id)??""])),a("kind",u(n.kind)),a("status",N(n,s)+(n.replayed?" (from the journal)":""));let p=l(n.attempt),d=l(n.max_attempts);p!==null&&a("attempts",d!==null?`${p} of ${d}`:String(p)),a("started",y(l(n.started_at),s)),a("ended",y(l(n.ended_at),s)),l(n.ended_at)!==null&&a("duration",w(R(n,s))),a("next attempt",y(l(n.next_attempt_at),s)),a("sleeps until",y(l(n.sleep_until),s)),a("waits for",u(n.wait_event)),a("idempotency key",n.idempotency_key?o(t,"code",{class:"nbd-idem"},[u(n.idempotency_key)??""]):null);let b=[o(t,"dl",{},i.flatMap(([g,v])=>[o(t,"dt",{},[g]),o(t,"dd",{},[v])]))],m=u(n.input_preview);m!==null&&m!==""&&b.push(o(t,"div",{class:"nbd-section-title"},["Input"]),o(t,"pre",{class:"nbd-input"},[m]));let f=u(n.output_preview);if(f!==null){let g=l(n.output_size),v=z(f),_="";g!==null&&g>v?_=` (truncated: first ${$(v)} of ${$(g)})`:g!==null&&(_=` (${$(g)})`),b.push(o(t,"div",{class:"nbd-section-title"},["Output",o(t,"span",{class:"nbd-note"},[_])]),o(t,"pre",{class:"nbd-output"},[f]))}n.error&&b.push(o(t,"div",{class:"nbd-step-error"},J(t,n.error)));let c=n.ai;if(c&&typeof c=="object"){let g=[["model",[u(c.model),u(c.provider)?`(${u(c.provider)})`:null].filter(Boolean).join(" ")],["tokens",`${k(l(c.tokens_in))} in / ${k(l(c.tokens_out))} out`],["latency",w(l(c.latency))],["cost",I(l(c.cost))],["price",B(c.price)]];b.push(o(t,"div",{class:"nbd-section-title"},["AI call"]),o(t,"dl",{class:"nbd-ai"},g.filter(([,A])=>A!=="").flatMap(([A,q])=>[o(t,"dt",{},[A]),o(t,"dd",{},[q])])));let v=H(c.request);v&&b.push(o(t,"div",{class:"nbd-section-title"},["Prompt"]),o(t,"pre",{class:"nbd-ai-request"},[v]));let _=H(c.response);_&&b.push(o(t,"div",{class:"nbd-section-title"},["Response"]),o(t,"pre",{class:"nbd-ai-response"},[_]))}let h=u(n.step_id),x=this.options.onAction;if(r&&x&&h){let g=o(t,"button",{class:"nbd-btn nbd-rerun",type:"button"},["Rerun from this step"]);g.addEventListener("click",()=>{g.disabled=!0,this.setNotice(`Rerunning from ${h}\u2026`,"info"),x({action:"rerun",step_id:h})}),b.push(o(t,"div",{},[g]))}return b}};function U(e,n,r,t,s=!0){let i=`Waiting for event ${u(e)??"?"}`,a=u(n);a&&(i+=` where ${a}`);let p=l(r);if(p!==null){i+=`, times out ${y(p,t)}`;let d=s?T(p,t):"";d&&(i+=` (${d})`)}return i}function J(e,n){let r=u(n.type)??"Error",t=u(n.message)??"",s=[o(e,"div",{class:"nbd-error-title"},[t?`${r}: ${t}`:r])],i=u(n.traceback);return i&&s.push(o(e,"pre",{class:"nbd-traceback"},[i])),s}var W="nbdurable:snapshot";function Z(e){return typeof e=="object"&&e!==null&&e.type==="action_result"&&typeof e.message=="string"}function nn({model:e,el:n}){let r=new M(n,{host:"widget",live:!0,onAction:i=>e.send(i)}),t=()=>{let i=e.get("snapshot");r.update(i),n.dispatchEvent(new CustomEvent(W,{bubbles:!0,detail:i}))},s=i=>{Z(i)&&r.setNotice(i.message,i.ok?"ok":"error")};return e.on("change:snapshot",t),e.on("msg:custom",s),t(),e.send({type:"rendered"}),()=>{e.off("change:snapshot",t),e.off("msg:custom",s),r.dispose()}}var pn={render:nn};export{pn as default,nn as render};
