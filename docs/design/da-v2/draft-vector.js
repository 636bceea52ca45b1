// Draft DA-v2 vector, made only with circomlibjs 0.1.7 (the project's pinned copy, read-only).
// Run: node da-v2-draft-vector.js (uses the project's installed circomlibjs 0.1.7, read-only).
const path=require('path').join(__dirname, '../../../state/testdata/circomlibjs/node_modules/');
const circomlibjs=require(path+'circomlibjs');
const createBlakeHash=require(path+'blake-hash');
const crypto=require('crypto');
(async()=>{
 const P=await circomlibjs.buildPoseidonReference(); const F=P.F;
 const bj=await circomlibjs.buildBabyjub(); const eddsa=await circomlibjs.buildEddsa();
 const R=21888242871839275222246405745257275088548364400416034343698204186575808495617n;
 const L=bj.subOrder;
 const b2n=x=>BigInt(F.toString(x));
 const H=(xs)=>b2n(P(xs.map(x=>F.e(x))));
 const perm=(st)=>P(st.slice(1).map(x=>F.e(x)),F.e(st[0]),4).map(b2n);
 const m=x=>((x%R)+R)%R; const T128=1n<<128n;
 const enc=(msg,key,nonce)=>{const l=msg.length,mm=[...msg];while(mm.length%3)mm.push(0n);let s=[0n,key[0],key[1],m(nonce+BigInt(l)*T128)];const ct=[];for(let i=0;i<mm.length/3;i++){s=perm(s);for(let j=1;j<=3;j++){s[j]=m(s[j]+mm[3*i+j-1]);ct.push(s[j]);}}s=perm(s);ct.push(s[1]);return ct;};
 const decNoCheck=(ct,key,nonce,l)=>{let s=[0n,key[0],key[1],m(nonce+BigInt(l)*T128)];const out=[];for(let i=0;i<Math.floor(ct.length/3);i++){s=perm(s);for(let j=1;j<=3;j++){out.push(m(ct[3*i+j-1]-s[j]));s[j]=ct[3*i+j-1];}}return out.slice(0,l);};
 const tag=s=>BigInt('0x'+Buffer.from(s,'ascii').toString('hex'));
 const SALT=tag('zkperp.da.salt'), STEP=tag('zkperp.da.step'), KEYT=tag('zkperp.da.key');
 // owner key = bytes 1..32 (the project's test key)
 const prv=Buffer.from([...Array(32).keys()].map(i=>i+1));
 const A=eddsa.prv2pub(prv).map(b2n);
 const h=createBlakeHash('blake512').update(prv).digest(); const hh=Buffer.from(h.subarray(0,32)); hh[0]&=0xf8; hh[31]&=0x7f; hh[31]|=0x40;
 const s=BigInt('0x'+Buffer.from(hh).reverse().toString('hex'))>>3n;
 const Achk=bj.mulPointEscalar(bj.Base8,s).map(b2n); if(Achk[0]!==A[0]) throw 'secret scalar';
 // operator ephemeral scalar e (deterministic here)
 const e=BigInt('0x'+crypto.createHash('sha256').update('zkperp-da-v2-draft-e').digest('hex'))%L;
 const E=bj.mulPointEscalar(bj.Base8,e).map(b2n);
 const Kop=bj.mulPointEscalar([F.e(A[0]),F.e(A[1])],e).map(b2n);
 const Kown=bj.mulPointEscalar([F.e(E[0]),F.e(E[1])],s).map(b2n);
 if(Kop[0]!==Kown[0]||Kop[1]!==Kown[1]) throw 'ecdh';
 const salt0=H([SALT,Kop[0],Kop[1]]);
 // batch 7 creates the account (rho_7), account touched again in batch 9
 const id=5n, rho7=0x0123456789abcdef0123456789abcdefn, rho9=0xfedcba9876543210fedcba9876543210n;
 const step=(sp,b,rho)=>H([STEP,sp,b*(1n<<32n)+id+(rho<<96n)]); // nonce(b,id) + 2^96*rho_b
 const s7=step(salt0,7n,rho7), s9=step(s7,9n,rho9);
 // leaf after batch 9
 const leaf={l1:0xabababababababababababababababababababababn, collateral:-1234567n, nonce:3n, floor:0n,
   pos:[{size:-10n,fi:250n},{size:3n,fi:-7n}], orders_root:12345678901234567890n, salt:s9};
 const pack=p=>(p.size+(1n<<40n))*(1n<<64n)+(p.fi+(1n<<63n));
 const fe=x=>m(x);
 const w0=leaf.orders_root;
 const w1=(leaf.collateral+(1n<<63n)) + ((leaf.nonce+(leaf.floor<<32n))<<64n) + (pack(leaf.pos[0])<<136n);
 const w2=pack(leaf.pos[1]); // + pack(pos2)<<105 when M=3
 const key=[s9,KEYT], nonce=9n*(1n<<32n)+id;
 const full=enc([w0,w1,w2],key,nonce); const ct=full.slice(0,3);
 const back=decNoCheck(ct,key,nonce,3);
 if(back[0]!==w0||back[1]!==w1||back[2]!==w2) throw 'roundtrip';
 const posHash=H(leaf.pos.map(pack));
 const leafHash=H([A[0],A[1],leaf.l1,fe(leaf.collateral),leaf.nonce+(leaf.floor<<32n),leaf.orders_root,posHash,leaf.salt]);
 const packed=Buffer.from(bj.packPoint([F.e(E[0]),F.e(E[1])])).toString('hex');
 const out={tags:{DA_SALT_TAG:SALT,DA_STEP_TAG:STEP,DA_KEY_TAG:KEYT},public_key:A,secret_scalar:s,e,E,E_packed:packed,K:Kop,salt_init:salt0,
  salt_after_batch7:s7,salt_after_batch9:s9,account:id,plaintext:[w0,w1,w2],key,nonce,ciphertext:ct,zkkit_poseidonEncrypt_full:full,leaf_hash:leafHash};
 console.log(JSON.stringify(out,(k,v)=>typeof v==='bigint'?v.toString():v,1));
})();
