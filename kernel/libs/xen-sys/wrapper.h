/* Xen public headers bound by xen-sys. Regenerate with `make bindings`. */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#include <stdint.h>
#include <xen/xen.h>
#include <xen/xen-compat.h>
#include <xen/arch-x86/xen.h>
#include <xen/arch-x86/xen-x86_64.h>
#include <xen/sched.h>
#include <xen/event_channel.h>
#include <xen/memory.h>
#include <xen/vcpu.h>
#include <xen/elfnote.h>
#include <xen/callback.h>
#include <xen/features.h>
#include <xen/version.h>
#include <xen/io/xs_wire.h>
#include <xen/io/console.h>

/*
 * Constants the headers define with casts or function-like macros, which
 * bindgen cannot evaluate from a #define. clang evaluates them here as
 * enumerators, so the values still come from the headers.
 */
enum xen_sys_evaluated_constants {
    XEN_SYS_UVMF_NONE = UVMF_NONE,
    XEN_SYS_UVMF_TLB_FLUSH = UVMF_TLB_FLUSH,
    XEN_SYS_UVMF_INVLPG = UVMF_INVLPG,
    XEN_SYS_UVMF_LOCAL = UVMF_LOCAL,
    XEN_SYS_DOMID_SELF = DOMID_SELF,
    XEN_SYS_CALLBACKTYPE_event = CALLBACKTYPE_event,
    XEN_SYS_CALLBACKTYPE_failsafe = CALLBACKTYPE_failsafe,
    XEN_SYS_CALLBACKF_mask_events = CALLBACKF_mask_events,
};
