// nRF52840 UARTE, the UART with EasyDMA (nRF52840 Product Specification v1.7,
// section 6.34), for Renode, written for hil_service (MIT, like the rest of
// this repository).
//
// Why it exists: Renode's NRF52840_UART (unchanged at least from 1.15 to its
// development branch of Aug 2026) takes "the ENDRX event is clear" to mean "a
// receive buffer is armed". Zephyr's interrupt-driven UARTE driver clears
// ENDRX, reads the byte and only then triggers STARTRX. A byte arriving in
// that gap is DMA-written one past the 1-byte buffer, AMOUNT passes MAXCNT so
// ENDRX never fires again, and every later byte goes on into RAM (payload
// bytes were found in the firmware's TX buffer and interrupt stack).
//
// This model keeps the receiver's state explicitly: a buffer is armed by
// STARTRX and disarmed when it is full (ENDRX) or by STOPRX, whatever the
// firmware does with the event registers. Bytes that arrive while no buffer is
// armed wait in an unbounded queue until the next STARTRX (the silicon has a
// 4-byte FIFO and would lose the rest without flow control; Renode delivers a
// whole socket read at one instant of virtual time, so the model never drops).
//
// Modelled: tasks STARTRX, STOPRX, STARTTX, STOPTX, FLUSHRX; events CTS, NCTS,
// RXDRDY, ENDRX, TXDRDY, ENDTX, ERROR, RXTO, RXSTARTED, TXSTARTED, TXSTOPPED;
// SHORTS ENDRX_STARTRX and ENDRX_STOPRX; INTEN/INTENSET/INTENCLR; ERRORSRC
// (always 0); ENABLE; PSEL.*, BAUDRATE, CONFIG (stored); RXD/TXD PTR, MAXCNT,
// AMOUNT. A transmission completes at once: STARTTX reads the buffer, sends
// it and raises TXSTARTED, TXDRDY, ENDTX and TXSTOPPED.
// Loaded by the generated Renode script with `include @HIL_NRF52840_UARTE.cs`.
using System;
using System.Collections.Generic;
using Antmicro.Migrant;
using Antmicro.Renode.Core;
using Antmicro.Renode.Core.Structure.Registers;
using Antmicro.Renode.Logging;
using Antmicro.Renode.Peripherals.Bus;

namespace Antmicro.Renode.Peripherals.UART
{
    public class HIL_NRF52840_UARTE : BasicDoubleWordPeripheral, IUART, IKnownSize
    {
        public HIL_NRF52840_UARTE(IMachine machine) : base(machine)
        {
            bus = machine.GetSystemBus(this);
            IRQ = new GPIO();
            DefineRegisters();
        }

        public long Size => 0x1000;

        public GPIO IRQ { get; }

        [field: Transient]
        public event Action<byte> CharReceived;

        public void WriteChar(byte value)
        {
            lock(sync)
            {
                pending.Enqueue(value);
                Receive();
            }
            UpdateInterrupt();
        }

        public override void Reset()
        {
            base.Reset();
            lock(sync)
            {
                pending.Clear();
                Array.Clear(events, 0, events.Length);
                rxArmed = false;
                rxBufferPointer = 0;
                rxBufferLength = 0;
                rxReceived = 0;
            }
            IRQ.Unset();
        }

        public uint BaudRate
        {
            get
            {
                // BAUDRATE register values of the product specification (table "BAUDRATE").
                switch((uint)baudRate.Value)
                {
                case 0x0004F000: return 1200;
                case 0x0009D000: return 2400;
                case 0x0013B000: return 4800;
                case 0x00275000: return 9600;
                case 0x003AF000: return 14400;
                case 0x004EA000: return 19200;
                case 0x0075C000: return 28800;
                case 0x00800000: return 31250;
                case 0x009D0000: return 38400;
                case 0x00E50000: return 56000;
                case 0x00EB0000: return 57600;
                case 0x013A9000: return 76800;
                case 0x01D60000: return 115200;
                case 0x03B00000: return 230400;
                case 0x04000000: return 250000;
                case 0x07400000: return 460800;
                case 0x0F000000: return 921600;
                case 0x10000000: return 1000000;
                default: return 0;
                }
            }
        }

        public Bits StopBits => twoStopBits.Value ? Bits.Two : Bits.One;

        public Parity ParityBit => parity.Value == 0x7 ? Parity.Even : Parity.None;

        private void DefineRegisters()
        {
            Registers.TasksStartRx.Define(this).WithFlag(0, FieldMode.Write, writeCallback: (_, v) => { if(v) { Task(StartRx); } }, name: "TASKS_STARTRX").WithReservedBits(1, 31);
            Registers.TasksStopRx.Define(this).WithFlag(0, FieldMode.Write, writeCallback: (_, v) => { if(v) { Task(StopRx); } }, name: "TASKS_STOPRX").WithReservedBits(1, 31);
            Registers.TasksStartTx.Define(this).WithFlag(0, FieldMode.Write, writeCallback: (_, v) => { if(v) { StartTx(); } }, name: "TASKS_STARTTX").WithReservedBits(1, 31);
            Registers.TasksStopTx.Define(this).WithFlag(0, FieldMode.Write, writeCallback: (_, v) => { if(v) { Task(() => Raise(Event.TxStopped)); } }, name: "TASKS_STOPTX").WithReservedBits(1, 31);
            Registers.TasksFlushRx.Define(this).WithFlag(0, FieldMode.Write, writeCallback: (_, v) => { if(v) { Task(FlushRx); } }, name: "TASKS_FLUSHRX").WithReservedBits(1, 31);

            foreach(Event e in Enum.GetValues(typeof(Event)))
            {
                var which = e;
                ((Registers)(0x100 + 4 * (long)e)).Define(this, name: "EVENTS_" + e)
                    .WithFlag(0, valueProviderCallback: _ => IsSet(which), writeCallback: (_, v) => SetEvent(which, v), name: "EVENT")
                    .WithReservedBits(1, 31);
            }

            Registers.Shorts.Define(this, name: "SHORTS")
                .WithReservedBits(0, 5)
                .WithFlag(5, out shortEndRxStartRx, name: "ENDRX_STARTRX")
                .WithFlag(6, out shortEndRxStopRx, name: "ENDRX_STOPRX")
                .WithReservedBits(7, 25);

            Registers.IntEn.Define(this, name: "INTEN")
                .WithValueField(0, 32, valueProviderCallback: _ => interruptEnable, writeCallback: (_, v) => { interruptEnable = (uint)v & EventMask; UpdateInterrupt(); }, name: "INTEN");
            Registers.IntEnSet.Define(this, name: "INTENSET")
                .WithValueField(0, 32, valueProviderCallback: _ => interruptEnable, writeCallback: (_, v) => { interruptEnable |= (uint)v & EventMask; UpdateInterrupt(); }, name: "INTENSET");
            Registers.IntEnClr.Define(this, name: "INTENCLR")
                .WithValueField(0, 32, valueProviderCallback: _ => interruptEnable, writeCallback: (_, v) => { interruptEnable &= ~((uint)v); UpdateInterrupt(); }, name: "INTENCLR");

            // No line errors in emulation: reads 0, write-1-to-clear of nothing.
            Registers.ErrorSrc.Define(this, name: "ERRORSRC").WithValueField(0, 4, FieldMode.Read | FieldMode.WriteOneToClear, valueProviderCallback: _ => 0, name: "ERRORSRC").WithReservedBits(4, 28);

            Registers.Enable.Define(this, name: "ENABLE")
                .WithValueField(0, 4, out enableMode, writeCallback: (_, v) => OnEnable((uint)v), name: "ENABLE")
                .WithReservedBits(4, 28);

            foreach(var psel in new[] { Registers.PselRts, Registers.PselTxd, Registers.PselCts, Registers.PselRxd })
            {
                psel.Define(this, 0xFFFFFFFF, name: "PSEL_" + psel).WithValueField(0, 32, name: "PSEL");
            }

            Registers.BaudRate.Define(this, 0x04000000, name: "BAUDRATE").WithValueField(0, 32, out baudRate, name: "BAUDRATE");

            Registers.RxdPtr.Define(this, name: "RXD.PTR").WithValueField(0, 32, out rxPointer, name: "PTR");
            Registers.RxdMaxCnt.Define(this, name: "RXD.MAXCNT").WithValueField(0, 16, out rxMaxCount, name: "MAXCNT").WithReservedBits(16, 16);
            Registers.RxdAmount.Define(this, name: "RXD.AMOUNT").WithValueField(0, 16, FieldMode.Read, valueProviderCallback: _ => rxReceived, name: "AMOUNT").WithReservedBits(16, 16);
            Registers.TxdPtr.Define(this, name: "TXD.PTR").WithValueField(0, 32, out txPointer, name: "PTR");
            Registers.TxdMaxCnt.Define(this, name: "TXD.MAXCNT").WithValueField(0, 16, out txMaxCount, name: "MAXCNT").WithReservedBits(16, 16);
            Registers.TxdAmount.Define(this, name: "TXD.AMOUNT").WithValueField(0, 16, FieldMode.Read, valueProviderCallback: _ => txSent, name: "AMOUNT").WithReservedBits(16, 16);

            Registers.Config.Define(this, name: "CONFIG")
                .WithFlag(0, name: "HWFC")
                .WithValueField(1, 3, out parity, name: "PARITY")
                .WithFlag(4, out twoStopBits, name: "STOP")
                .WithReservedBits(5, 27);
        }

        private bool Enabled => enableMode.Value == EnableUarte;

        private void OnEnable(uint mode)
        {
            if(mode != 0 && mode != EnableUarte)
            {
                this.Log(LogLevel.Warning, "ENABLE = {0}: only UARTE mode (8) is modelled", mode);
            }
            if(mode == 0)
            {
                lock(sync)
                {
                    rxArmed = false; // disabling stops the receiver; queued bytes stay
                }
            }
        }

        private void Task(Action action)
        {
            lock(sync)
            {
                action();
            }
            UpdateInterrupt();
        }

        // The tasks and Receive run with sync held.
        private void StartRx()
        {
            if(!Enabled)
            {
                this.Log(LogLevel.Warning, "STARTRX while the UARTE is not enabled: ignored");
                return;
            }
            // PTR and MAXCNT are double-buffered: latched here, so the firmware may
            // prepare the next buffer as soon as RXSTARTED is raised.
            rxBufferPointer = rxPointer.Value;
            rxBufferLength = (uint)rxMaxCount.Value;
            rxReceived = 0;
            rxArmed = rxBufferLength > 0;
            Raise(Event.RxStarted);
            Receive();
        }

        private void StopRx()
        {
            if(rxArmed)
            {
                rxArmed = false;
                Raise(Event.EndRx); // a partly filled buffer still ends with ENDRX ...
            }
            Raise(Event.RxTo); // ... and RXTO follows it
        }

        private void FlushRx()
        {
            // The silicon moves what its FIFO holds after STOPRX into the buffer. Our
            // bytes wait in the queue for the next STARTRX instead, so there is never
            // anything to flush: ENDRX with AMOUNT 0.
            rxBufferPointer = rxPointer.Value;
            rxReceived = 0;
            Raise(Event.EndRx);
        }

        private void Receive()
        {
            while(rxArmed && pending.Count > 0)
            {
                var value = pending.Dequeue();
                bus.WriteByte(rxBufferPointer + rxReceived, value);
                rxReceived++;
                Raise(Event.RxDReady);
                if(rxReceived < rxBufferLength)
                {
                    continue;
                }
                rxArmed = false; // full: nothing more is written until the next STARTRX
                Raise(Event.EndRx);
                if(shortEndRxStopRx.Value)
                {
                    StopRx();
                }
                else if(shortEndRxStartRx.Value)
                {
                    StartRx();
                    return; // StartRx went on receiving
                }
            }
        }

        private void StartTx()
        {
            if(!Enabled)
            {
                this.Log(LogLevel.Warning, "STARTTX while the UARTE is not enabled: ignored");
                return;
            }
            var count = (int)txMaxCount.Value;
            var data = count > 0 ? bus.ReadBytes(txPointer.Value, count) : new byte[0];
            lock(sync)
            {
                Raise(Event.TxStarted);
            }
            foreach(var b in data)
            {
                CharReceived?.Invoke(b);
            }
            lock(sync)
            {
                txSent = (uint)data.Length;
                if(data.Length > 0)
                {
                    Raise(Event.TxDReady);
                }
                Raise(Event.EndTx);
                // The transmitter stops once the buffer is out, as if ENDTX were wired to
                // STOPTX (Zephyr's driver does that with a PPI channel).
                Raise(Event.TxStopped);
            }
            UpdateInterrupt();
        }

        private bool IsSet(Event e)
        {
            lock(sync)
            {
                return events[(int)e];
            }
        }

        private void SetEvent(Event e, bool value)
        {
            lock(sync)
            {
                events[(int)e] = value;
            }
            UpdateInterrupt();
        }

        private void Raise(Event e)
        {
            events[(int)e] = true;
        }

        private void UpdateInterrupt()
        {
            bool state = false;
            lock(sync)
            {
                foreach(Event e in Enum.GetValues(typeof(Event)))
                {
                    if(events[(int)e] && (interruptEnable & (1u << (int)e)) != 0)
                    {
                        state = true;
                        break;
                    }
                }
            }
            IRQ.Set(state);
        }

        private const uint EnableUarte = 8;

        private readonly IBusController bus;
        private readonly object sync = new object();
        private readonly Queue<byte> pending = new Queue<byte>();
        private readonly bool[] events = new bool[32];
        private uint interruptEnable;
        private bool rxArmed;
        private ulong rxBufferPointer;
        private uint rxBufferLength;
        private uint rxReceived;
        private uint txSent;

        private IFlagRegisterField shortEndRxStartRx;
        private IFlagRegisterField shortEndRxStopRx;
        private IValueRegisterField enableMode;
        private IValueRegisterField baudRate;
        private IValueRegisterField rxPointer;
        private IValueRegisterField rxMaxCount;
        private IValueRegisterField txPointer;
        private IValueRegisterField txMaxCount;
        private IValueRegisterField parity;
        private IFlagRegisterField twoStopBits;

        private static readonly uint EventMask = ComputeEventMask();

        private static uint ComputeEventMask()
        {
            uint mask = 0;
            foreach(Event e in Enum.GetValues(typeof(Event)))
            {
                mask |= 1u << (int)e;
            }
            return mask;
        }

        // Event number = (register offset - 0x100) / 4 = its bit in INTEN.
        private enum Event
        {
            Cts = 0,
            Ncts = 1,
            RxDReady = 2,
            EndRx = 4,
            TxDReady = 7,
            EndTx = 8,
            Error = 9,
            RxTo = 17,
            RxStarted = 19,
            TxStarted = 20,
            TxStopped = 22,
        }

        private enum Registers : long
        {
            TasksStartRx = 0x000,
            TasksStopRx = 0x004,
            TasksStartTx = 0x008,
            TasksStopTx = 0x00C,
            TasksFlushRx = 0x02C,
            Shorts = 0x200,
            IntEn = 0x300,
            IntEnSet = 0x304,
            IntEnClr = 0x308,
            ErrorSrc = 0x480,
            Enable = 0x500,
            PselRts = 0x508,
            PselTxd = 0x50C,
            PselCts = 0x510,
            PselRxd = 0x514,
            BaudRate = 0x524,
            RxdPtr = 0x534,
            RxdMaxCnt = 0x538,
            RxdAmount = 0x53C,
            TxdPtr = 0x544,
            TxdMaxCnt = 0x548,
            TxdAmount = 0x54C,
            Config = 0x56C,
        }
    }
}
