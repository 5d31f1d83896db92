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
