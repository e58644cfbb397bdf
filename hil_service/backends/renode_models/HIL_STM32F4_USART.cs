// STM32F4 USART (RM0090 section 30.6, registers SR/DR/BRR/CR1/CR2/CR3/GTPR) for
// Renode, written for hil_service (MIT, like the rest of this repository).
//
// Why it exists: Renode 1.15-1.16's STM32_UART schedules one idle-line timer
// per received byte, and each insertion into Renode's action queue scans the
// pending ones. Renode hands a whole socket read to the UART in one go, so a
// burst of n bytes costs O(n^2): an 8 KiB protocol frame got no reply within
// 90 s (docs/renode.md). This model keeps at most one idle-line check pending,
// whatever the burst length.
//
// Behaviour, and where it differs from the silicon on purpose:
// - Received bytes wait in an unbounded queue: RXNE stays set while bytes are
//   queued, DR pops one. The real USART has a single DR and overruns (ORE) if
//   the ISR is late; Renode delivers a burst at one instant of virtual time,
//   which no 1-byte receiver could take, so nothing is ever dropped and ORE
//   reads 0.
// - TXE is always 1 and a DR write completes at once (TC set).
// - IDLE is set about one frame time (10 bit times) after the last received
//   byte; SR-then-DR read clears it (we clear it on the DR read).
// Loaded by the generated Renode script with `include @HIL_STM32F4_USART.cs`.
using System;
using System.Collections.Generic;
using Antmicro.Migrant;
using Antmicro.Renode.Core;
using Antmicro.Renode.Core.Structure.Registers;
using Antmicro.Renode.Logging;
using Antmicro.Renode.Peripherals.Bus;
using Antmicro.Renode.Time;

namespace Antmicro.Renode.Peripherals.UART
{
    [AllowedTranslations(AllowedTranslation.WordToDoubleWord | AllowedTranslation.ByteToDoubleWord)]
    public class HIL_STM32F4_USART : BasicDoubleWordPeripheral, IUART, IKnownSize
    {
        // frequency: the peripheral clock (PCLK1 for USART2/3, UART4/5; PCLK2 for
        // USART1/6); only BaudRate and the idle-line delay depend on it.
        public HIL_STM32F4_USART(IMachine machine, uint frequency = 42000000) : base(machine)
        {
            pclk = frequency;
            IRQ = new GPIO();
            DefineRegisters();
        }

        public long Size => 0x400;

        public GPIO IRQ { get; }

        [field: Transient]
        public event Action<byte> CharReceived;

        public void WriteChar(byte value)
        {
            lock(rx)
            {
                if(!enable.Value || !receiverEnable.Value)
                {
                    this.Log(LogLevel.Warning, "receiver off (UE/RE clear): byte 0x{0:X2} dropped", value);
                    return;
                }
                rx.Enqueue(value);
                bytesSinceIdleCheck++;
                ArmIdleCheck();
            }
            UpdateInterrupt();
        }

        public override void Reset()
        {
            base.Reset();
            lock(rx)
            {
                rx.Clear();
                idle = false;
                bytesSinceIdleCheck = 0;
                idleGeneration++; // a check still pending from before the reset ends silently
                idleCheckPending = false;
            }
            IRQ.Unset();
        }

        public uint BaudRate
        {
            get
            {
                // BRR = USARTDIV: mantissa in bits 15:4, fraction in 3:0 (in 1/16ths; with
                // OVER8 only bits 2:0 count, in 1/8ths). Baud = fCK / (8 * (2 - OVER8) * USARTDIV).
                var over8 = oversampling8.Value;
                var fraction = over8 ? (divFraction.Value & 0x7) / 8.0 : divFraction.Value / 16.0;
                var usartDiv = divMantissa.Value + fraction;
                if(usartDiv <= 0)
                {
                    return 0;
                }
                return (uint)(pclk / ((over8 ? 8.0 : 16.0) * usartDiv));
            }
        }

        public Bits StopBits
        {
            get
            {
                switch(stop.Value)
                {
                case 1: return Bits.Half;
                case 2: return Bits.Two;
                case 3: return Bits.OneAndAHalf;
                default: return Bits.One;
                }
            }
        }

        public Parity ParityBit => !parityEnable.Value ? Parity.None : (parityOdd.Value ? Parity.Odd : Parity.Even);

        private void DefineRegisters()
        {
            Registers.SR.Define(this, 0xC0, name: "USART_SR")
                .WithTaggedFlag("PE", 0)
                .WithTaggedFlag("FE", 1)
                .WithTaggedFlag("NF", 2)
                .WithFlag(3, FieldMode.Read, valueProviderCallback: _ => false, name: "ORE")
                .WithFlag(4, FieldMode.Read, valueProviderCallback: _ => idle, name: "IDLE")
                // RXNE: rc_w0 on silicon; writing 0 drops nothing here (the queue decides).
                .WithFlag(5, FieldMode.Read | FieldMode.WriteZeroToClear, valueProviderCallback: _ => RxPending, name: "RXNE")
                .WithFlag(6, out transmissionComplete, FieldMode.Read | FieldMode.WriteZeroToClear, name: "TC")
                .WithFlag(7, FieldMode.Read, valueProviderCallback: _ => true, name: "TXE")
                .WithTaggedFlag("LBD", 8)
                .WithTaggedFlag("CTS", 9)
                .WithReservedBits(10, 22)
                .WithWriteCallback((_, __) => UpdateInterrupt());

            Registers.DR.Define(this, name: "USART_DR")
                .WithValueField(0, 9, valueProviderCallback: _ => ReadData(), writeCallback: (_, value) => WriteData((byte)value), name: "DR")
                .WithReservedBits(9, 23);

            Registers.BRR.Define(this, name: "USART_BRR")
                .WithValueField(0, 4, out divFraction, name: "DIV_Fraction")
                .WithValueField(4, 12, out divMantissa, name: "DIV_Mantissa")
                .WithReservedBits(16, 16);

            Registers.CR1.Define(this, name: "USART_CR1")
                .WithTaggedFlag("SBK", 0)
                .WithTaggedFlag("RWU", 1)
                .WithFlag(2, out receiverEnable, name: "RE")
                .WithFlag(3, out transmitterEnable, name: "TE")
                .WithFlag(4, out idleInterruptEnable, name: "IDLEIE")
                .WithFlag(5, out rxneInterruptEnable, name: "RXNEIE")
                .WithFlag(6, out tcInterruptEnable, name: "TCIE")
                .WithFlag(7, out txeInterruptEnable, name: "TXEIE")
                .WithTaggedFlag("PEIE", 8)
                .WithFlag(9, out parityOdd, name: "PS")
                .WithFlag(10, out parityEnable, name: "PCE")
                .WithTaggedFlag("WAKE", 11)
                .WithTaggedFlag("M", 12)
                .WithFlag(13, out enable, name: "UE")
                .WithReservedBits(14, 1)
                .WithFlag(15, out oversampling8, name: "OVER8")
                .WithReservedBits(16, 16)
                .WithWriteCallback((_, __) => UpdateInterrupt());

            Registers.CR2.Define(this, name: "USART_CR2")
                .WithValueField(0, 4, name: "ADD")
                .WithReservedBits(4, 1)
                .WithFlag(5, name: "LBDL")
                .WithFlag(6, name: "LBDIE")
                .WithReservedBits(7, 1)
                .WithFlag(8, name: "LBCL")
                .WithFlag(9, name: "CPHA")
                .WithFlag(10, name: "CPOL")
                .WithFlag(11, name: "CLKEN")
                .WithValueField(12, 2, out stop, name: "STOP")
                .WithFlag(14, name: "LINEN")
                .WithReservedBits(15, 17);

            // Stored only: error interrupts, half-duplex, IrDA, smartcard, DMA requests
            // and hardware flow control are not modelled.
            Registers.CR3.Define(this, name: "USART_CR3")
                .WithValueField(0, 12, name: "CR3")
                .WithReservedBits(12, 20);

            Registers.GTPR.Define(this, name: "USART_GTPR")
                .WithValueField(0, 8, name: "PSC")
                .WithValueField(8, 8, name: "GT")
                .WithReservedBits(16, 16);
        }

        private bool RxPending
        {
            get
            {
                lock(rx)
                {
                    return rx.Count > 0;
                }
            }
        }

        private uint ReadData()
        {
            byte value = 0;
            lock(rx)
            {
                // A read of DR after SR clears IDLE; the driver always reads SR first.
                idle = false;
                if(rx.Count > 0)
                {
                    value = rx.Dequeue();
                }
            }
            UpdateInterrupt();
            return value;
        }

        private void WriteData(byte value)
        {
            if(!enable.Value || !transmitterEnable.Value)
            {
                this.Log(LogLevel.Warning, "transmitter off (UE/TE clear): byte 0x{0:X2} dropped", value);
                return;
            }
            CharReceived?.Invoke(value);
            transmissionComplete.Value = true;
            UpdateInterrupt();
        }

        // Called with rx locked. One check at a time: a byte that arrives while a
        // check is pending only bumps the counter, and the check re-arms itself
        // until a whole frame time passed without a byte.
        private void ArmIdleCheck()
        {
            if(idleCheckPending)
            {
                return;
            }
            var baud = BaudRate;
            if(baud == 0)
            {
                return; // not configured yet: no line timing to speak of
            }
            idleCheckPending = true;
            var generation = idleGeneration;
            // 10 bit times: start bit, 8 data bits, stop bit.
            var frame = TimeInterval.FromMicroseconds(Math.Max(1UL, 10UL * 1000000UL / baud));
            machine.ScheduleAction(frame, _ => IdleCheck(generation), name: "HIL_STM32F4_USART idle line");
        }

        private void IdleCheck(ulong generation)
        {
            lock(rx)
            {
                if(generation != idleGeneration)
                {
                    return;
                }
                idleCheckPending = false;
                if(bytesSinceIdleCheck > 0)
                {
                    bytesSinceIdleCheck = 0;
                    ArmIdleCheck();
                    return;
                }
                idle = true;
            }
            UpdateInterrupt();
        }

        private void UpdateInterrupt()
        {
            bool rxPending;
            bool idleNow;
            lock(rx)
            {
                rxPending = rx.Count > 0;
                idleNow = idle;
            }
            var state = (rxneInterruptEnable.Value && rxPending)
                || (idleInterruptEnable.Value && idleNow)
                || txeInterruptEnable.Value // TXE is always 1
                || (tcInterruptEnable.Value && transmissionComplete.Value);
            IRQ.Set(state);
        }

        private readonly uint pclk;
        private readonly Queue<byte> rx = new Queue<byte>();
        private bool idle;
        private bool idleCheckPending;
        private ulong idleGeneration;
        private int bytesSinceIdleCheck;

        private IFlagRegisterField transmissionComplete;
        private IValueRegisterField divFraction;
        private IValueRegisterField divMantissa;
        private IFlagRegisterField receiverEnable;
        private IFlagRegisterField transmitterEnable;
        private IFlagRegisterField idleInterruptEnable;
        private IFlagRegisterField rxneInterruptEnable;
        private IFlagRegisterField tcInterruptEnable;
        private IFlagRegisterField txeInterruptEnable;
        private IFlagRegisterField parityOdd;
        private IFlagRegisterField parityEnable;
        private IFlagRegisterField enable;
        private IFlagRegisterField oversampling8;
        private IValueRegisterField stop;

        private enum Registers : long
        {
            SR = 0x00,
            DR = 0x04,
            BRR = 0x08,
            CR1 = 0x0C,
            CR2 = 0x10,
            CR3 = 0x14,
            GTPR = 0x18,
        }
    }
}
