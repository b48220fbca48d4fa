// The shapes shared by the runner and the workloads.
import type { Tool } from "./install.js";
import type { RunningPeer } from "./postamt.js";

/** One timed run of a workload case against one server. */
export interface Sample {
  /** the figure compared between servers; higher is better (e.g. messages/second) */
  value: number;
  /** wall-clock seconds of the timed part */
  seconds: number;
  /** anything else worth keeping in the results file */
  extra?: Record<string, number>;
}

export interface Case {
  /** e.g. "20 sessions, 4 KB" */
  label: string;
  params: Record<string, number | string>;
  /** the unit of Sample.value, e.g. "msg/s" */
  unit: string;
  /** the peer this case is compared with, e.g. "postfix" */
  peer: string;
  start(server: "postamt" | "peer"): Promise<RunningPeer>;
  measure(server: RunningPeer): Promise<Sample>;
}

export interface Workload {
  name: string;
  description: string;
  tools: Tool[];
  cases(): Case[];
}
