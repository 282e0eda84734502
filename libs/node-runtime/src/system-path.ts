/**
 * The PATH given to the tools the node runs (CNI plugins, runc and the CRIU
 * it calls, which itself runs tar, ip and iptables): the system's own
 * directories, never the agent's environment.
 */
export const SYSTEM_TOOL_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
